"""Tests of `h5/`."""
