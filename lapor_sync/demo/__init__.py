"""``lapor-sync demo``: the main job replayed on the simulated Palangka Raya 2024 data set."""
