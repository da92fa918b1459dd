"""CLI tier: the lapor-sync commands as a user runs them."""
