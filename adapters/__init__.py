"""Adapters: the national platform (``national``) and the city's own systems (``city``)."""
