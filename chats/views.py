"""HTTP adapters of conversations."""

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from chats import selectors, services
from chats.models import Conversation
from chats.serializers import ConversationCreateSerializer, ConversationSerializer
from core.pagination import NewestCreatedFirstCursorPagination
from core.throttling import PolicyThrottle, RateLimitedMixin


class ConversationCreateThrottle(PolicyThrottle):
    """Conversations a user may start in a window."""

    scope = "conversation_create"


class ConversationViewSet(
    RateLimitedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Conversations the caller takes part in; any other is a 404."""

    serializer_class = ConversationSerializer
    pagination_class = NewestCreatedFirstCursorPagination
    lookup_value_regex = r"\d+"
    rate_limits = {"create": [ConversationCreateThrottle]}

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

    @extend_schema(request=None, responses={204: None})
    @action(detail=True, methods=["post"])
    def leave(self, request, pk=None):
        """Leave the conversation: it, its messages and its notifications disappear for the
        caller at once. Nobody can add them back through the API."""
        if selectors.conversation_participant_ids(user=request.user, conversation_id=pk) is None:
            raise Http404
        services.conversation_leave(user=request.user, conversation=Conversation(pk=int(pk)))
        return Response(status=status.HTTP_204_NO_CONTENT)
