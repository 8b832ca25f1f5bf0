"""Tests of `handlers/`."""
