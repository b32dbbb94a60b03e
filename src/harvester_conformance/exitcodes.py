"""Exit codes, shared by the CLI and the pytest plugin (design.md §1)."""

CONFORMS = 0  # every selected invariant passed (warnings allowed unless --strict)
VIOLATION = 1  # at least one invariant failed
USAGE = 2  # bad option, unknown profile/ID, unusable kubeconfig
CANNOT_RUN = 3  # unreachable cluster, emulated cluster failed, nothing could be evaluated
