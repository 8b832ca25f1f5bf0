"""Search (检索) above feedback and volumes: the query grammar, the SQLite and PostgreSQL back-ends, the service."""
