"""Alembic migrations; `llmrelay.store.database.migrate` runs them at start."""
