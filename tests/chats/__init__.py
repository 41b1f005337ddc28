"""Tests of the chats app."""
