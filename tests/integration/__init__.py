"""Integration tier: storage on SQLite and PostgreSQL, leases, migrations, settings, client on respx."""
