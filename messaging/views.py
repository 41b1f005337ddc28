"""HTTP adapters of the messaging API: parse, authorize, call a service or selector, render."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.serializers import PasswordConfirmSerializer
from accounts.services import user_delete
from chats.models import Conversation
from chats.selectors import conversation_participant_ids
from core.pagination import NewestCreatedFirstCursorPagination, NewestFirstCursorPagination
from core.throttling import PasswordCheckThrottle, PolicyThrottle, RateLimitedMixin
from messaging import selectors, services, shapes
from messaging.idempotency import SCHEMA_422, SCHEMA_PARAMETER, idempotent
from messaging.list_cache import cached_list
from messaging.models import Message
from messaging.permissions import IsSenderOrReadOnly
from messaging.serializers import (
    DirectMessageCreateSerializer,
    GroupMessageCreateSerializer,
    MessageHistorySerializer,
    MessageSerializer,
    MessageUpdateSerializer,
    NotificationSerializer,
    TaskAcceptedSerializer,
    ThreadMessageSerializer,
    thread_tree,
)


class DeleteUserView(RateLimitedMixin, APIView):
    rate_limits = {"post": [PasswordCheckThrottle]}

    @extend_schema(request=PasswordConfirmSerializer, responses={202: TaskAcceptedSerializer})
    def post(self, request):
        """Delete the caller's account now, given its password; its data is purged in the
        background."""
        PasswordConfirmSerializer(data=request.data, context={"request": request}).is_valid(
            raise_exception=True
        )
        user = request.user
        user_delete(user=user)
        # Set by the post_delete receiver (messaging/signals.py) that scheduled the purge.
        return Response(
            {"status": "accepted", "task_id": user.data_purge_task_id},
            status=status.HTTP_202_ACCEPTED,
        )


# --- Messages -------------------------------------------------------------------------------


class MessageSendThrottle(PolicyThrottle):
    """Messages a user may send (direct and group together) in a short window."""

    scope = "message_send"


class MessageSendDailyThrottle(PolicyThrottle):
    """... and in a day, so that a steady sender cannot flood either."""

    scope = "message_send_day"


SEND_LIMITS = [MessageSendThrottle, MessageSendDailyThrottle]


def _paginated_rows(view, rows) -> Response:
    """A page of message rows, shaped as MessageSerializer shapes a message."""
    page = view.paginate_queryset(rows)
    return view.get_paginated_response(shapes.message_row_bodies(page))


class MessageViewSet(
    RateLimitedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """The caller's messages. Only the sender may edit or delete; others get 403 or 404."""

    serializer_class = MessageSerializer
    permission_classes = [IsAuthenticated, IsSenderOrReadOnly]
    lookup_value_regex = r"\d+"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    rate_limits = {"create": SEND_LIMITS}

    def get_queryset(self):
        return selectors.message_list_for_user(user=self.request.user)

    @extend_schema(responses={200: MessageSerializer(many=True)})
    @cached_list("messages")
    def list(self, request, *args, **kwargs):
        rows = selectors.message_rows_for_user(user=request.user)
        return _paginated_rows(self, rows)

    @extend_schema(
        request=DirectMessageCreateSerializer,
        parameters=[SCHEMA_PARAMETER],
        responses={201: MessageSerializer, 422: SCHEMA_422},
    )
    @idempotent
    def create(self, request):
        serializer = DirectMessageCreateSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        message = services.message_send(sender=request.user, **serializer.validated_data)
        return self._created(message)

    @extend_schema(request=MessageUpdateSerializer, responses={200: MessageSerializer})
    def partial_update(self, request, pk=None):
        message = self.get_object()
        serializer = MessageUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.message_edit(
            message=message, editor=request.user, content=serializer.validated_data["content"]
        )
        return Response(self._render_one(message.pk))

    def perform_destroy(self, instance: Message) -> None:
        services.message_delete(message=instance)

    @extend_schema(responses={200: MessageSerializer(many=True)})
    @action(detail=False)
    @cached_list("unread")
    def unread(self, request):
        rows = selectors.unread_message_rows(user=request.user)
        return _paginated_rows(self, rows)

    @extend_schema(request=None, responses={200: MessageSerializer})
    # Any recipient may mark a message read: not IsSenderOrReadOnly, which refuses them a POST.
    @action(detail=True, methods=["post"], permission_classes=[IsAuthenticated])
    def read(self, request, pk=None):
        """Mark a message the caller received as read (idempotent)."""
        message = self.get_object()
        if message.sender_id == request.user.pk:
            return Response(
                {"detail": "You cannot mark your own message as read."},
                status=status.HTTP_400_BAD_REQUEST,
            )
        services.message_mark_read(message=message, user=request.user)
        return Response(self._render_one(message.pk))

    @extend_schema(responses={200: MessageHistorySerializer(many=True)})
    @action(detail=True, pagination_class=None)
    def history(self, request, pk=None):
        message = self.get_object()
        rows = selectors.message_history(message=message)
        return Response(MessageHistorySerializer(rows, many=True).data)

    @extend_schema(responses={200: ThreadMessageSerializer})
    @action(detail=True, pagination_class=None)
    def thread(self, request, pk=None):
        """The message and all replies below it, nested, oldest first at each level."""
        root = self.get_object()
        root, children, truncated = selectors.message_thread(user=request.user, root=root)
        data = thread_tree(root, children)
        response = Response(data)
        response["X-Thread-Truncated"] = "true" if truncated else "false"
        return response

    def _render_one(self, pk) -> dict:
        message = selectors.message_get_for_user(user=self.request.user, pk=pk)
        if message is None:
            raise Http404
        return MessageSerializer(message).data

    @staticmethod
    def _created(message: Message) -> Response:
        # MessageSerializer's shape (tests/messaging/test_shapes.py), without its cost; the
        # sender's own message is read.
        return Response(shapes.message_body(message, read=True), status=status.HTTP_201_CREATED)


class NotificationViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = NotificationSerializer
    pagination_class = NewestCreatedFirstCursorPagination
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return selectors.notifications_for_user(user=self.request.user)

    @cached_list("notifications", notifications=True)
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(request=None, responses={200: NotificationSerializer})
    @action(detail=True, methods=["post"])
    def read(self, request, pk=None):
        notification = self.get_object()
        services.notification_mark_read(notification=notification)
        notification.refresh_from_db(fields=["read", "read_at"])
        return Response(NotificationSerializer(notification).data)


class ConversationMessagesView(RateLimitedMixin, generics.GenericAPIView):
    """GET and POST /api/conversations/{id}/messages/: a conversation's messages (participants
    only; anyone else gets 404)."""

    queryset = Message.objects.none()  # for the schema; the methods query what they show
    serializer_class = MessageSerializer
    pagination_class = NewestFirstCursorPagination
    rate_limits = {"post": SEND_LIMITS}

    @extend_schema(responses={200: MessageSerializer(many=True)})
    @cached_list("conversation_messages", conversation_kwarg="pk")
    def get(self, request, pk=None):
        if conversation_participant_ids(user=request.user, conversation_id=pk) is None:
            raise Http404
        rows = selectors.conversation_message_rows(user=request.user, conversation_id=pk)
        return _paginated_rows(self, rows)

    @extend_schema(
        request=GroupMessageCreateSerializer,
        parameters=[SCHEMA_PARAMETER],
        responses={201: MessageSerializer, 422: SCHEMA_422},
    )
    @idempotent
    def post(self, request, pk=None):
        participant_ids = conversation_participant_ids(user=request.user, conversation_id=pk)
        if participant_ids is None:
            raise Http404
        conversation = Conversation(pk=int(pk))
        serializer = GroupMessageCreateSerializer(
            data=request.data, context={"request": request, "conversation": conversation}
        )
        serializer.is_valid(raise_exception=True)
        message = services.conversation_message_post(
            sender=request.user,
            conversation=conversation,
            participant_ids=participant_ids,
            **serializer.validated_data,
        )
        return MessageViewSet._created(message)
