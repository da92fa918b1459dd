"""Console accounts: users and their roles, passwords, API tokens, sign-in throttling, the audit log.

Everything the web console and ``lapor-sync user`` share below HTTP: the console's pages and the CLI
call these services, neither keeps a rule of its own.
"""
