"""The account model."""

from django.contrib.auth.models import AbstractUser


class User(AbstractUser):
    """The account. Custom from the start, as Django recommends for new projects."""

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
