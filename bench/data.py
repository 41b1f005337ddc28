"""Fast builders of benchmark data: bulk inserts that skip signals where no side effect is wanted.

Users get an unusable password (hashing one costs ~0.3 s each); the bench authenticates with
JWTs minted directly, exactly as the API clients present them.
"""

from __future__ import annotations

import itertools
from datetime import timedelta

from django.utils import timezone

from accounts.models import User
from chats.models import Conversation
from messaging.models import Message

_serial = itertools.count(1)


def make_users(count: int, prefix: str = "u") -> list[User]:
    run = next(_serial)
    names = [f"{prefix}{run}_{i}" for i in range(count)]
    User.objects.bulk_create(
        [User(username=n, email=f"{n}@bench.invalid", password="!") for n in names],
        batch_size=1_000,
    )
    by_name = {u.username: u for u in User.objects.filter(username__in=names)}
    return [by_name[n] for n in names]


def make_user(prefix: str = "u") -> User:
    return make_users(1, prefix)[0]


def make_conversation(users: list[User]) -> Conversation:
    conversation = Conversation.objects.create(created_by=users[0])
    conversation.participants.add(*users)
    return conversation


def bulk_messages(rows: list[dict], *, batch_size: int = 5_000) -> None:
    """Insert messages given as field dicts, oldest first, one microsecond apart."""
    start = timezone.now() - timedelta(days=1)
    Message.objects.bulk_create(
        (
            Message(timestamp=start + timedelta(microseconds=i), content=f"bench {i}", **row)
            for i, row in enumerate(rows)
        ),
        batch_size=batch_size,
    )


def direct_messages(sender: User, receiver: User, count: int) -> None:
    bulk_messages([{"sender_id": sender.pk, "receiver_id": receiver.pk}] * count)


def reply_chain(sender: User, receiver: User, depth: int) -> Message:
    """A root message and `depth` replies, each one under the previous; returns the root.

    Inserted one by one (each reply needs its parent's id) with bulk_create, which sends no
    signal: reading a thread needs no notification or outbox event.
    """
    root = Message.objects.bulk_create([Message(sender=sender, receiver=receiver, content="root")])[
        0
    ]
    parent = root
    for i in range(depth):
        a, b = (receiver, sender) if i % 2 == 0 else (sender, receiver)
        parent = Message.objects.bulk_create(
            [Message(sender=a, receiver=b, content=f"reply {i}", parent_message=parent)]
        )[0]
    return root
