"""HTTP adapters of conversations and their messages."""

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from chats import selectors, services
from chats.models import Conversation
from chats.serializers import ConversationCreateSerializer, ConversationSerializer
from messaging import selectors as message_selectors
from messaging import services as message_services
from messaging.cache import cached_list
from messaging.pagination import NewestCreatedFirstCursorPagination, NewestFirstCursorPagination
from messaging.serializers import GroupMessageCreateSerializer, MessageSerializer


class ConversationViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Conversations the caller takes part in; any other is a 404."""

    serializer_class = ConversationSerializer
    pagination_class = NewestCreatedFirstCursorPagination
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no user
            return Conversation.objects.none()
        return selectors.conversation_list_for_user(user=self.request.user)

    @extend_schema(request=ConversationCreateSerializer, responses={201: ConversationSerializer})
    def create(self, request):
        serializer = ConversationCreateSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        conversation = services.conversation_create(
            creator=request.user, participants=serializer.validated_data["participants"]
        )
        conversation = self.get_queryset().get(pk=conversation.pk)
        return Response(ConversationSerializer(conversation).data, status=status.HTTP_201_CREATED)

    @extend_schema(methods=["GET"], request=None, responses={200: MessageSerializer(many=True)})
    @extend_schema(
        methods=["POST"],
        request=GroupMessageCreateSerializer,
        responses={201: MessageSerializer},
    )
    @action(detail=True, methods=["get", "post"], url_path="messages")
    def messages(self, request, pk=None):
        if request.method == "POST":
            return self._post_message(request, pk)
        return self._list_messages(request, pk=pk)

    @cached_list("conversation_messages", conversation_kwarg="pk")
    def _list_messages(self, request, pk=None):
        if selectors.conversation_participant_ids(user=request.user, conversation_id=pk) is None:
            raise Http404
        queryset = message_selectors.conversation_messages(user=request.user, conversation_id=pk)
        paginator = NewestFirstCursorPagination()
        page = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response(MessageSerializer(page, many=True).data)

    def _post_message(self, request, pk):
        participant_ids = selectors.conversation_participant_ids(
            user=request.user, conversation_id=pk
        )
        if participant_ids is None:
            raise Http404
        conversation = Conversation(pk=int(pk))
        serializer = GroupMessageCreateSerializer(
            data=request.data, context={"request": request, "conversation": conversation}
        )
        serializer.is_valid(raise_exception=True)
        message = message_services.conversation_message_post(
            sender=request.user,
            conversation=conversation,
            participant_ids=participant_ids,
            **serializer.validated_data,
        )
        message.read = True
        return Response(MessageSerializer(message).data, status=status.HTTP_201_CREATED)
