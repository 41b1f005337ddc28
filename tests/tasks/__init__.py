"""Tests of the tasks app."""
