"""The row lists compiled once per shape (core/prepared.py) give exactly the queryset's rows."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chats.services import conversation_create
from core import prepared
from core.prepared import PreparedRows
from messaging import selectors, services
from messaging.models import Message
from messaging.shapes import MESSAGE_ROW

pytestmark = pytest.mark.django_db

ORDER = ("-timestamp", "-id")


@pytest.fixture(autouse=True)
def _no_shapes_from_other_tests():
    prepared._local.__dict__.clear()


@pytest.fixture
def talk(alice, bob, carol):
    """Direct messages both ways, some at the same instant, some read; a group conversation."""
    group = conversation_create(creator=alice, participants=[bob, carol])
    start = timezone.now() - timedelta(hours=1)
    sent = []
    for i in range(12):
        sender, receiver = (alice, bob) if i % 3 else (bob, alice)
        message = services.message_send(sender=sender, receiver=receiver, content=f"m{i}")
        sent.append(message)
        services.conversation_message_post(sender=carol, conversation=group, content=f"g{i}")
    # Pairs of messages share a timestamp: the id breaks the tie.
    for i, message in enumerate(sent):
        Message.objects.filter(pk=message.pk).update(timestamp=start + timedelta(minutes=i // 2))
    for message in sent[::4]:
        services.message_mark_read(message=message, user=message.receiver)
    return group, [m.timestamp for m in Message.objects.order_by("timestamp")]


def _cases(times):
    middle = times[len(times) // 2]
    yield (), slice(0, 5)
    yield (), slice(3, 9)
    yield (), slice(0, None)
    yield (("timestamp__lt", middle),), slice(0, 4)
    yield (("timestamp__gt", middle),), slice(1, 6)
    yield (("timestamp__lt", middle.isoformat()),), slice(0, 50)  # as a cursor carries it


def _queryset_rows(queryset, lookups, window):
    return list(queryset.order_by(*ORDER).filter(**dict(lookups))[window])


def _prepared_rows(rows, lookups, window):
    return rows.order_by(*ORDER).filter(**dict(lookups))[window]


def test_each_list_gives_the_querysets_rows(talk, alice, bob, carol):
    group, times = talk
    compared = 0
    for reader in (alice, bob, carol):
        lists = [
            (
                selectors.message_rows_for_user(user=reader),
                Message.objects.for_user(reader).with_read_state(reader).values(*MESSAGE_ROW),
            ),
            (
                selectors.unread_message_rows(user=reader),
                Message.unread.unread_for_user(reader).values(*MESSAGE_ROW),
            ),
            (
                selectors.conversation_message_rows(user=reader, conversation_id=group.pk),
                Message.objects.visible()
                .filter(conversation_id=group.pk)
                .with_read_state(reader)
                .values(*MESSAGE_ROW),
            ),
        ]
        for rows, queryset in lists:
            for lookups, window in _cases(times):
                expected = _queryset_rows(queryset, lookups, window)
                assert _prepared_rows(rows, lookups, window) == expected
                compared += len(expected)
    assert compared > 200  # the cases are not empty


def test_iteration_gives_every_row(talk, bob):
    expected = list(Message.objects.for_user(bob).with_read_state(bob).values(*MESSAGE_ROW))
    assert list(selectors.message_rows_for_user(user=bob)) == expected


def test_a_shape_is_compiled_once_and_runs_as_one_query(talk, alice, bob, monkeypatch):
    _, times = talk
    compiled = []
    original = PreparedRows._compile

    def counting(self, *args):
        compiled.append(args[1:])
        return original(self, *args)

    monkeypatch.setattr(PreparedRows, "_compile", counting)
    for reader, position in ((alice, times[3]), (bob, times[7]), (alice, times[9])):
        rows = selectors.message_rows_for_user(user=reader).order_by(*ORDER)
        with CaptureQueriesContext(connection) as queries:
            rows.filter(timestamp__lt=position)[0:4]
        assert len(queries) == 1
    assert compiled == [(0, 4)]
    selectors.message_rows_for_user(user=bob).order_by(*ORDER)[0:5]  # another shape
    assert compiled == [(0, 4), (0, 5)]


def test_the_shapes_kept_are_bounded(talk, alice, monkeypatch):
    monkeypatch.setattr(prepared, "MAX_SHAPES", 3)
    for stop in range(1, 10):
        selectors.message_rows_for_user(user=alice).order_by(*ORDER)[0:stop]
    assert len(prepared._local.__dict__[connection.alias]) == 3


@pytest.mark.django_db(transaction=True)  # the thread reads what this one committed
def test_each_thread_compiles_for_its_own_connection(talk, alice):
    expected = selectors.message_rows_for_user(user=alice).order_by(*ORDER)[0:5]
    seen = []

    def read():
        try:
            seen.append(selectors.message_rows_for_user(user=alice).order_by(*ORDER)[0:5])
        finally:
            connection.close()

    thread = threading.Thread(target=read)
    thread.start()
    thread.join()
    assert seen == [expected]


def test_a_value_that_shapes_the_query_is_refused(alice):
    def by_sign(user_id):  # uses the id to choose the query, not as a parameter
        rows = Message.objects.values(*MESSAGE_ROW[:2])
        return rows.filter(sender_id=1) if user_id > 0 else rows

    with pytest.raises(ValueError, match="not a parameter"):
        list(PreparedRows(Message, by_sign, {"user_id": alice.pk}))


def test_only_values_querysets_and_slices(alice):
    def instances(user_id):
        return Message.objects.filter(sender_id=user_id)

    with pytest.raises(TypeError, match="values"):
        list(PreparedRows(Message, instances, {"user_id": alice.pk}))
    with pytest.raises(TypeError, match="slice"):
        selectors.message_rows_for_user(user=alice)[3]


def _in_list(**ids):
    return Message.objects.filter(pk__in=list(ids.values())).values("pk", "content")


def test_a_list_of_ids_is_one_shape_per_length(talk):
    """id_params: lists of different lengths never share a compiled statement."""
    pks = list(Message.objects.order_by("pk").values_list("pk", flat=True))
    for wanted in (pks[:1], pks[2:5], pks[:1], pks[5:7], pks[3:6]):
        rows = PreparedRows(Message, _in_list, prepared.id_params(wanted))
        expected = Message.objects.filter(pk__in=wanted).order_by("pk").values("pk", "content")
        assert sorted(rows, key=lambda row: row["pk"]) == list(expected)
    shapes = [key for key in prepared._local.__dict__[connection.alias] if key[0] is _in_list]
    assert len(shapes) == 3  # lengths 1, 3 and 2
