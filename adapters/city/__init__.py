"""Adapters for the city's system of record; ``builtin`` is lapor-sync's own store."""
