"""`manage.py seed_demo`: demo users, conversations and messages to look at after `make run`.

Everything goes through the services, so the signal receivers record their outbox events and a
running worker turns them into notifications and edit history, as for real traffic.
"""

from __future__ import annotations

import logging
import random
from contextlib import contextmanager

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q
from tqdm import tqdm

from accounts.models import User
from accounts.services import user_register
from chats.models import Conversation
from chats.services import conversation_create
from messaging import services
from messaging.models import Message
from outbox.services import outbox_flush

logger = logging.getLogger(__name__)

DEMO_PASSWORD = "demo-messaging-pass-2025"  # noqa: S105 - printed on purpose, demo accounts only
DEMO_USERNAMES = ("demo_alice", "demo_bob", "demo_carol", "demo_dave", "demo_erin")
# A staff superuser with the same password, for the admin (/admin/) and the staff task API.
DEMO_ADMIN = "demo_admin"
# Conversations by index into DEMO_USERNAMES; the first one starts each.
DEMO_CONVERSATIONS = ((0, 1, 2, 3, 4), (0, 1, 2), (3, 4, 1))

LINES = (
    "Morning! Anyone up for coffee?",
    "Did you see the build went green?",
    "I pushed the fix, can you have a look?",
    "Lunch at noon?",
    "The deploy is scheduled for Friday.",
    "Can we move the meeting to 3pm?",
    "Thanks, that worked.",
    "I'll be a bit late today.",
    "Great idea, let's do it.",
    "Who has the slides from yesterday?",
)
REPLIES = ("Sounds good!", "On it.", "Not sure, let me check.", "+1", "Agreed.", "Why not?")


def _broker_answers() -> bool:
    from celery_app import app

    try:
        with app.connection_for_write(settings.CELERY_BROKER_URL) as connection:
            connection.ensure_connection(max_retries=1, interval_start=0)
    except Exception as exc:  # any transport error: the events simply wait in the outbox
        logger.debug("seed_demo: broker check failed: %s", exc)
        return False
    return True


class _Stream:
    """Hands tqdm the command's own stream without OutputWrapper's added newlines and colour."""

    def __init__(self, wrapper) -> None:
        self._wrapper = wrapper

    def write(self, text: str) -> None:
        self._wrapper.write(text, style_func=lambda s: s, ending="")

    def flush(self) -> None:
        self._wrapper.flush()


class Command(BaseCommand):
    help = "Create demo users, conversations and messages (threads, edits, read marks)."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--messages", type=int, default=300, help="How many messages to create (default 300)."
        )
        parser.add_argument("--seed", type=int, default=2025, help="Random seed (default 2025).")
        parser.add_argument(
            "--no-progress", action="store_true", help="Do not draw the progress bar."
        )

    def handle(self, *args, messages: int, seed: int, no_progress: bool, **options) -> None:
        if messages < 0:
            raise CommandError("--messages must be zero or more.")
        users = self._users()
        if Message.objects.filter(Q(sender__in=users) | Q(receiver__in=users)).exists():
            self.stdout.write("Demo data already present: nothing to add.")
        else:
            with self._quiet_if_broker_down():
                conversations = self._conversations(users)
                self._messages(users, conversations, messages, random.Random(seed), no_progress)
        self._print_logins()

    @contextmanager
    def _quiet_if_broker_down(self):
        """Say once that the broker is down, instead of one warning per event over the bar."""
        if _broker_answers():
            yield
            return
        self.stdout.write(
            self.style.WARNING(
                f"The broker {settings.CELERY_BROKER_URL} does not answer: the events stay in "
                "the outbox, and a worker's relay sends them once it runs (make run)."
            )
        )
        outbox_logger = logging.getLogger("outbox.services")
        level = outbox_logger.level
        outbox_logger.setLevel(logging.ERROR)
        try:
            yield
            outbox_flush()  # the publishes run in a background thread: let them fail quietly
        finally:
            outbox_logger.setLevel(level)

    def _users(self) -> list[User]:
        users = []
        created = 0
        for username in DEMO_USERNAMES:
            user = User.objects.filter(username=username).first()
            if user is None:
                user = user_register(
                    username=username, email=f"{username}@example.com", password=DEMO_PASSWORD
                )
                created += 1
            users.append(user)
        if not User.objects.filter(username=DEMO_ADMIN).exists():
            User.objects.create_superuser(
                username=DEMO_ADMIN, email=f"{DEMO_ADMIN}@example.com", password=DEMO_PASSWORD
            )
            created += 1
        self.stdout.write(
            f"Demo users: {created} created, {len(users) + 1 - created} already there."
        )
        return users

    def _conversations(self, users: list[User]) -> list[Conversation]:
        conversations = [
            conversation_create(
                creator=users[members[0]], participants=[users[i] for i in members[1:]]
            )
            for members in DEMO_CONVERSATIONS
        ]
        self.stdout.write(f"Conversations: {len(conversations)} created.")
        return conversations

    def _messages(
        self,
        users: list[User],
        conversations: list[Conversation],
        total: int,
        rng: random.Random,
        no_progress: bool,
    ) -> None:
        demo = _DemoChats(users, conversations, rng)
        progress = tqdm(
            total=total,
            desc="Messages",
            unit="msg",
            file=_Stream(self.stderr),
            disable=no_progress,
            ascii=True,
        )
        with progress as bar:
            for _ in range(total):
                demo.send_one()
                bar.update(1)
        counts = demo.counts
        self.stdout.write(
            f"Messages: {total} created ({counts['replies']} replies, {counts['edits']} edits, "
            f"{counts['reads']} read)."
        )

    def _print_logins(self) -> None:
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS("Demo logins (password for all):"))
        for username in DEMO_USERNAMES:
            self.stdout.write(f"  {username:<12} {DEMO_PASSWORD}   API")
        self.stdout.write(f"  {DEMO_ADMIN:<12} {DEMO_PASSWORD}   API, admin and staff task API")
        self.stdout.write(
            "Get a token: curl -s -X POST http://127.0.0.1:8000/api/auth/token/ "
            '-H "Content-Type: application/json" '
            f'-d \'{{"username": "{DEMO_USERNAMES[0]}", "password": "{DEMO_PASSWORD}"}}\''
        )


class _DemoChats:
    """Random traffic between the demo users: direct and group messages, replies, edits, reads."""

    def __init__(self, users: list[User], conversations: list[Conversation], rng: random.Random):
        self.users, self.conversations, self.rng = users, conversations, rng
        self.members = {
            c.pk: [users[i] for i in spec]
            for c, spec in zip(conversations, DEMO_CONVERSATIONS, strict=True)
        }
        # Earlier messages of each chat, to reply to: a direct pair or a conversation.
        self.history: dict[tuple, list[Message]] = {}
        self.counts = {"replies": 0, "edits": 0, "reads": 0}

    def send_one(self) -> None:
        rng = self.rng
        if rng.random() < 0.4:
            conversation = rng.choice(self.conversations)
            sender, receiver = rng.choice(self.members[conversation.pk]), None
            chat = ("group", conversation.pk)
        else:
            conversation = None
            sender, receiver = rng.sample(self.users, 2)
            chat = ("direct", *sorted((sender.pk, receiver.pk)))
        earlier = self.history.setdefault(chat, [])
        parent = rng.choice(earlier[-10:]) if earlier and rng.random() < 0.35 else None
        content = rng.choice(REPLIES if parent else LINES)
        message = self._post(sender, receiver, conversation, content, parent)
        self.counts["replies"] += parent is not None
        earlier.append(message)
        if rng.random() < 0.1:
            self._edit(message, sender, content)
        if receiver is not None and rng.random() < 0.5:
            services.message_mark_read(message=message, user=receiver)
            self.counts["reads"] += 1

    @staticmethod
    def _post(sender, receiver, conversation, content: str, parent) -> Message:
        if conversation is not None:
            return services.conversation_message_post(
                sender=sender, conversation=conversation, content=content, parent_message=parent
            )
        return services.message_send(
            sender=sender, receiver=receiver, content=content, parent_message=parent
        )

    def _edit(self, message: Message, editor: User, content: str) -> None:
        for revision in range(self.rng.randint(1, 2)):
            services.message_edit(
                message=message, editor=editor, content=f"{content} (edit {revision + 1})"
            )
            self.counts["edits"] += 1
