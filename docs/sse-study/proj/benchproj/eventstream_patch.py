"""django-eventstream 5.3 hard-codes its Redis pub/sub channel "events_channel" (views.RedisListener
and eventstream.send_event). Pub/sub channels are global to a Redis server (not per db), so on the
shared Redis we rename it to "ssebench:events_channel". Behaviour is otherwise unchanged."""
import json

CHANNEL = "ssebench:events_channel"


class _RenamingClient:
    def __init__(self, client):
        self._client = client

    def publish(self, channel, data):
        if channel == "events_channel":
            channel = CHANNEL
        return self._client.publish(channel, data)

    def __getattr__(self, name):
        return getattr(self._client, name)


def apply():
    from django_eventstream import eventstream, views

    if eventstream.redis_client is not None and not isinstance(eventstream.redis_client, _RenamingClient):
        eventstream.redis_client = _RenamingClient(eventstream.redis_client)

    async def listen(self):  # copy of RedisListener.listen with the channel renamed
        await self.pubsub.subscribe(CHANNEL)
        async for message in self.pubsub.listen():
            if message["type"] == "message":
                event_data = json.loads(message["data"])
                from django_eventstream.event import Event

                e = Event(event_data["channel"], event_data["event_type"], event_data["data"], id=event_data["pub_id"])
                views.get_listener_manager().add_to_queues(event_data["channel"], e)

    views.RedisListener.listen = listen
