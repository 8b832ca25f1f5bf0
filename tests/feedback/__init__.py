"""Tests of `feedback/`."""
