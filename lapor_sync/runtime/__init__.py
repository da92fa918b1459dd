"""What the process writes and where it listens: logs, redaction, loopback binding, private files."""
