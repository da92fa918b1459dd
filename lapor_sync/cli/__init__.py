"""The ``lapor-sync`` command line (typer): one module per group of commands.

Building the command line (``--help`` included) imports no database, HTTP, simulator or scheduler
code, so it starts fast: each command imports those in its body when it runs. Typer reads the
annotations of command functions, so the types they name (enums of options) come from light
modules; types used only by helpers sit under ``TYPE_CHECKING``. ``tests/cli/test_start.py``
guards this.
"""
