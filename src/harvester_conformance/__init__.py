"""Harvester conformance suite: documented invariants checked against a live or emulated cluster."""

__version__ = "0.1.0"
