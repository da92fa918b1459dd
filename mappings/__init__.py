"""The city mapping files (TOML data), shipped with the package; read them with lapor_sync.config.mapping_file."""
