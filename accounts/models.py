"""The account model: one account per username, whatever its case or Unicode form."""

from django.contrib.auth.models import AbstractUser
from django.contrib.auth.models import UserManager as DjangoUserManager
from django.db import models
from django.db.models import Value
from django.db.models.functions import Lower


class UserManager(DjangoUserManager):
    def same_username(self, username: str) -> models.QuerySet:
        """The account (at most one) whose username is `username` up to case and NFKC form.

        Lowered by the database on both sides, as the unique constraint compares them.
        """
        name = self.model.normalize_username(username)
        return self.alias(username_lower=Lower("username")).filter(
            username_lower=Lower(Value(name))
        )

    def get_by_natural_key(self, username):
        # What Django's ModelBackend (every login path) and createsuperuser look users up by.
        return self.same_username(username).get()


class User(AbstractUser):
    """The account. Custom from the start, as Django recommends for new projects."""

    objects = UserManager()

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        constraints = [
            models.UniqueConstraint(
                Lower("username"),
                name="user_username_case_insensitive_uniq",
                violation_error_message="A user with that username already exists.",
            )
        ]
