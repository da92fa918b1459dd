"""The web console: server-rendered pages and a JSON API over the same services the CLI calls."""
