"""Test helpers: the fake national platform, lapor-sync's side of a test, the end-to-end harness, factories,
CLI runners, the secret search, and where the repository is."""
