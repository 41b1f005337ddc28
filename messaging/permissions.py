"""Object permissions: who may change a message they can see."""

from rest_framework.permissions import SAFE_METHODS, BasePermission


class IsSenderOrReadOnly(BasePermission):
    message = "Only the sender may edit or delete this message."

    def has_object_permission(self, request, view, obj) -> bool:
        return request.method in SAFE_METHODS or obj.sender_id == request.user.pk
