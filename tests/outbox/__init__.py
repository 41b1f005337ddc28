"""Tests of the outbox app."""
