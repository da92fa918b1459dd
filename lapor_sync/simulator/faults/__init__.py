"""The simulator's fault injection: fault plans, profiles, HTTP middleware and wire faults."""
