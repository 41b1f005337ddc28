"""Code written for the original project: its names work here, and the inline mode runs each
outbox event in the saving transaction, so a plain `TestCase` sees the effects at once.

These tests are written the way a user of the seed writes theirs: `django.test.TestCase`,
`Message.objects.create(...)`, `save()` after changing `content`, `user.delete()`.
"""

from django.test import TestCase, override_settings

from accounts.models import User
from chats.models import Conversation
from messaging import services
from messaging.models import Message, MessageHistory, MessageRead, Notification


def _user(name: str) -> User:
    return User.objects.create_user(username=name, password="pw-not-used-123")


@override_settings(CELERY_TASK_ALWAYS_EAGER=True)
class InlineModeTests(TestCase):
    def setUp(self):
        self.alice, self.bob = _user("alice"), _user("bob")

    def test_create_edit_and_delete_take_effect_at_once(self):
        message = Message.objects.create(sender=self.alice, receiver=self.bob, content="v1")
        notification = Notification.objects.get(message=message)
        self.assertEqual(notification.user, self.bob)
        self.assertFalse(notification.is_read)

        message.content = "v2"
        message.save()
        history = MessageHistory.objects.get(message=message)
        self.assertEqual((history.old_content, history.revision), ("v1", 1))
        self.assertEqual(history.edited_by, self.alice)  # the editor defaults to the sender
        message.refresh_from_db()
        self.assertTrue(message.edited)
        self.assertEqual(message.edited_by, self.alice)

        self.alice.delete()
        self.assertFalse(Message.objects.filter(pk=message.pk).exists())
        self.assertFalse(Notification.objects.exists())
        self.assertFalse(MessageHistory.objects.exists())

    def test_a_group_post_notifies_the_other_participants_at_once(self):
        carol = _user("carol")
        conversation = Conversation.objects.create(created_by=self.alice)
        conversation.participants.add(self.alice, self.bob, carol)
        message = Message.objects.create(sender=self.alice, conversation=conversation, content="x")
        self.assertEqual(
            sorted(Notification.objects.filter(message=message).values_list("user", flat=True)),
            [self.bob.pk, carol.pk],
        )


class InlineModeIsNotTheDefault(TestCase):
    def test_without_it_the_effects_wait_for_a_worker(self):
        alice, bob = _user("alice"), _user("bob")
        Message.objects.create(sender=alice, receiver=bob, content="hi")
        self.assertFalse(Notification.objects.exists())


class SeedNamesTests(TestCase):
    def setUp(self):
        self.alice, self.bob = _user("alice"), _user("bob")

    def test_read_is_the_receivers_read_state_and_can_be_set_at_creation(self):
        read = Message.objects.create(sender=self.alice, receiver=self.bob, content="a", read=True)
        unread = Message.objects.create(sender=self.alice, receiver=self.bob, content="b")
        self.assertTrue(MessageRead.objects.filter(message=read, user=self.bob).exists())
        self.assertTrue(Message.objects.get(pk=read.pk).read)
        self.assertTrue(Message.objects.get(pk=read.pk).is_read)
        self.assertFalse(Message.objects.get(pk=unread.pk).read)
        self.assertEqual(list(Message.unread.unread_for_user(self.bob)), [unread])

    def test_read_can_be_set_and_unset_with_save_and_mark_as_read(self):
        message = Message.objects.create(sender=self.alice, receiver=self.bob, content="a")
        message.read = True
        message.save()
        self.assertFalse(Message.unread.unread_for_user(self.bob).exists())
        message.read = False
        message.save()
        self.assertTrue(Message.unread.unread_for_user(self.bob).exists())
        message.mark_as_read()
        self.assertFalse(Message.unread.unread_for_user(self.bob).exists())
        self.assertTrue(Message.objects.get(pk=message.pk).read)

    def test_notification_is_read_is_settable(self):
        message = Message.objects.create(sender=self.alice, receiver=self.bob, content="a")
        notification = Notification.objects.create(user=self.bob, message=message)
        notification.is_read = True
        notification.save()
        self.assertTrue(Notification.objects.get(pk=notification.pk).read)

    def test_history_rows_need_neither_revision_nor_edited_at(self):
        message = Message.objects.create(sender=self.alice, receiver=self.bob, content="a")
        first = MessageHistory.objects.create(message=message, old_content="zero")
        second = MessageHistory.objects.create(message=message, old_content="one")
        self.assertEqual((first.revision, second.revision), (1, 2))
        self.assertIsNotNone(first.edited_at)


class SeedDefectsTests(TestCase):
    """Three defects that code written for the seed ran into."""

    def setUp(self):
        self.alice, self.bob = _user("alice"), _user("bob")

    def test_an_orm_edit_archives_the_sender_as_editor(self):
        message = Message.objects.create(sender=self.alice, receiver=self.bob, content="v1")
        message.content = "v2"
        message.save()
        (event,) = [e.payload for e in message_events() if e.task == services.ARCHIVE_TASK]
        self.assertEqual(event["edited_by_id"], self.alice.pk)
        services.message_history_archive(edits=[event])
        self.assertEqual(MessageHistory.objects.get(message=message).edited_by, self.alice)

    def test_every_method_of_the_unread_manager_returns_unread_messages_only(self):
        read = Message.objects.create(sender=self.alice, receiver=self.bob, content="a", read=True)
        unread = Message.objects.create(sender=self.alice, receiver=self.bob, content="b")
        for queryset in (
            Message.unread.all(),
            Message.unread.filter(receiver=self.bob),
            Message.unread.for_user(self.bob),
            Message.unread.received_by(self.bob),
            Message.unread.unread_for_user(self.bob),
        ):
            self.assertEqual([m.pk for m in queryset], [unread.pk], str(queryset.query))
        self.assertEqual(Message.unread.count(), 1)
        self.assertNotIn(read, Message.unread.all())

    def test_the_unread_manager_counts_a_group_message_until_every_recipient_read_it(self):
        carol = _user("carol")
        conversation = Conversation.objects.create(created_by=self.alice)
        conversation.participants.add(self.alice, self.bob, carol)
        message = Message.objects.create(sender=self.alice, conversation=conversation, content="x")
        self.assertEqual(list(Message.unread.all()), [message])
        MessageRead.objects.mark(message_id=message.pk, user_id=self.bob.pk)
        self.assertEqual(list(Message.unread.all()), [message])
        self.assertFalse(Message.unread.for_user(self.bob).exists())
        MessageRead.objects.mark(message_id=message.pk, user_id=carol.pk)
        self.assertFalse(Message.unread.exists())

    def test_the_purge_leaves_no_editor_pointing_at_the_deleted_account(self):
        carol = _user("carol")
        message = Message.objects.create(sender=self.bob, receiver=carol, content="v1")
        message.content, message.edited_by = "v2", self.alice  # e.g. a moderator, in the admin
        message.save()
        services.message_history_archive(
            edits=[e.payload for e in message_events() if e.task == services.ARCHIVE_TASK]
        )
        alice_id = self.alice.pk
        self.alice.delete()
        services.user_data_purge(user_id=alice_id)
        message = Message.objects.get(pk=message.pk)
        self.assertIsNone(message.edited_by)
        self.assertIsNone(MessageHistory.objects.get(message=message).edited_by)


def message_events():
    from outbox.models import OutboxEvent

    return OutboxEvent.objects.order_by("created_at")
