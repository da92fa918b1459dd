"""Configuration: settings and their sources, TOML config files, the mapping file loader."""
