"""Test helpers: harnesses, factories, CLI runners, secret search."""
