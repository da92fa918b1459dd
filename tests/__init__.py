"""The test suite of lapor-sync."""
