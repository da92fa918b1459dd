"""Storage: tables, the unit of work and the migrations (SQLite by default, any SQLAlchemy URL)."""
