"""Durable storage: idempotent batched writes to PostgreSQL with an on-disk spool for outages."""
