"""LAPOR! admin panel exports: read them, write them (for the simulator) and reconcile them with the city's records.

Cities check their sync against the admin panel's Excel export and its monthly Word recap, keyed by
the public tracking id (CONTRACT §7 G11). Nothing here imports openpyxl or python-docx at module
level: they load when a file of their kind is read or written, so the CLI starts fast.
"""
