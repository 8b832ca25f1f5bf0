"""Composition root: the FastAPI app, the `houqin` command line, and the scheduler process."""
