"""Read models of the city's records for listings: one query per list, keyset-paged, newest first.

The web console and the CLI call these; neither builds its own listing query.
"""
