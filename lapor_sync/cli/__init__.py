"""The ``lapor-sync`` command line (typer): one module per group of commands."""
