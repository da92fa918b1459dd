"""Checks that compare lapor-sync's records with the national side: the invariant checker."""

from lapor_sync.checks.invariants import check_invariants
from lapor_sync.checks.report import KINDS, Finding, InvariantReport

__all__ = ["KINDS", "Finding", "InvariantReport", "check_invariants"]
