"""Alembic migrations of lapor-sync's schema (run by ``lapor-sync db upgrade``)."""
