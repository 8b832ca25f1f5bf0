"""Shared infrastructure: settings, database engine and sessions, sequences, outbox, job runs, WeChat API client."""
