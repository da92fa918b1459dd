"""The read side: city tallies, the SLA report and health, from a database and a mapping."""
