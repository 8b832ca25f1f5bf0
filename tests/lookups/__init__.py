"""Tests of `lookups/`."""
