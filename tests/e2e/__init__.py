"""End-to-end tier: lapor-sync against the built-in simulator over loopback HTTP."""
