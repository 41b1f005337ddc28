"""Tests of the monitoring app."""
