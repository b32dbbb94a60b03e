"""The conformance test packages: one per knowledge-base article or area."""
