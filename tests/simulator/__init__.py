"""Simulator tier: the built-in SP4N-LAPOR! simulator on its own."""
