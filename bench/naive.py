"""Naive implementations of the seed's endpoints, served beside ours for section 10.

They do what the public implementations of the original project do, with our models:
- POST: the message and its notification written in the request (no outbox, no worker);
- list: a DRF list of model instances through the serializer, no cache;
- unread: the same behind a 60 s `cache_page`, **stale by design**: a new message or a read mark
  does not show for up to a minute. (Keyed on the Authorization header, so that at least it never
  serves one user's list to another, which the peer's version did.)
"""

from __future__ import annotations

from django.db import transaction
from django.utils.decorators import method_decorator
from django.views.decorators.cache import cache_page
from django.views.decorators.vary import vary_on_headers
from rest_framework import generics, status
from rest_framework.response import Response

from core.pagination import NewestFirstCursorPagination
from messaging import selectors
from messaging.models import Message, Notification
from messaging.serializers import DirectMessageCreateSerializer, MessageSerializer


class NaiveMessages(generics.GenericAPIView):
    serializer_class = MessageSerializer
    pagination_class = NewestFirstCursorPagination

    def get(self, request):
        page = self.paginate_queryset(selectors.message_list_for_user(user=request.user))
        return self.get_paginated_response(MessageSerializer(page, many=True).data)

    def post(self, request):
        serializer = DirectMessageCreateSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        receiver = serializer.validated_data["receiver"]
        with transaction.atomic():
            # bulk_create sends no signals: no outbox event, no task, no live event.
            (message,) = Message.objects.bulk_create(
                [
                    Message(
                        sender=request.user,
                        receiver=receiver,
                        content=serializer.validated_data["content"],
                    )
                ]
            )
            Notification.objects.create(user=receiver, message=message)
        message.viewer_read = True
        return Response(MessageSerializer(message).data, status=status.HTTP_201_CREATED)


@method_decorator([cache_page(60), vary_on_headers("Authorization")], name="get")
class NaiveUnread(generics.GenericAPIView):
    serializer_class = MessageSerializer
    pagination_class = NewestFirstCursorPagination

    def get(self, request):
        page = self.paginate_queryset(Message.unread.unread_for_user(request.user))
        return self.get_paginated_response(MessageSerializer(page, many=True).data)
