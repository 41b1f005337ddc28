"""HTTP adapters of the messaging API: parse, authorize, call a service or selector, render."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from messaging import selectors, services
from messaging.cache import cached_list
from messaging.models import Message
from messaging.pagination import NewestCreatedFirstCursorPagination
from messaging.permissions import IsSenderOrReadOnly
from messaging.serializers import (
    DirectMessageCreateSerializer,
    MeSerializer,
    MessageHistorySerializer,
    MessageSerializer,
    MessageUpdateSerializer,
    NotificationSerializer,
    RegisterSerializer,
    SafeTokenRefreshSerializer,
    TaskAcceptedSerializer,
    ThreadMessageSerializer,
    thread_tree,
)

# --- Accounts -------------------------------------------------------------------------------


class RegisterView(generics.CreateAPIView):
    serializer_class = RegisterSerializer
    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "register"

    def perform_create(self, serializer):
        serializer.instance = services.user_register(**serializer.validated_data)


class ThrottledTokenObtainPairView(TokenObtainPairView):
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "token"


class ThrottledTokenRefreshView(TokenRefreshView):
    serializer_class = SafeTokenRefreshSerializer
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "token"


class MeView(generics.RetrieveAPIView):
    serializer_class = MeSerializer

    def get_object(self):
        return self.request.user


class DeleteUserView(APIView):
    @extend_schema(request=None, responses={202: TaskAcceptedSerializer})
    def post(self, request):
        """Delete the caller's account now; its data is purged in the background."""
        event = services.user_delete(user=request.user)
        return Response(
            {"status": "accepted", "task_id": event.task_id}, status=status.HTTP_202_ACCEPTED
        )


# --- Messages -------------------------------------------------------------------------------


class MessageViewSet(
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

    def get_queryset(self):
        return selectors.message_list_for_user(user=self.request.user)

    @cached_list("messages")
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(request=DirectMessageCreateSerializer, responses={201: MessageSerializer})
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
    def unread(self, request):
        queryset = Message.unread.unread_for_user(request.user)
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(MessageSerializer(page, many=True).data)

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
        message.read = True  # the sender's own message
        return Response(MessageSerializer(message).data, status=status.HTTP_201_CREATED)


class NotificationViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = NotificationSerializer
    pagination_class = NewestCreatedFirstCursorPagination
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return selectors.notifications_for_user(user=self.request.user)

    @extend_schema(request=None, responses={200: NotificationSerializer})
    @action(detail=True, methods=["post"])
    def read(self, request, pk=None):
        notification = self.get_object()
        services.notification_mark_read(notification=notification)
        notification.refresh_from_db(fields=["read", "read_at"])
        return Response(NotificationSerializer(notification).data)
