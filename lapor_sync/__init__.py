"""lapor-sync: keeps a city's complaint handling in step with SP4N-LAPOR!; ``app`` is the composition root."""
