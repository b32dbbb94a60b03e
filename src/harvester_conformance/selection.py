"""Suite profiles: which tests a run selects, by their impact and needs markers."""

from __future__ import annotations

from collections.abc import Callable

Predicate = Callable[[set[str]], bool]

PROFILES: dict[str, tuple[str, Predicate]] = {
    "quick": (
        "read-only checks that need no node probe, Rancher, guest cluster or vendor",
        lambda m: "read_only" in m and not m & {"node", "rancher", "guest_cluster", "vendor"},
    ),
    "default": ("every read-only check", lambda m: "read_only" in m),
    "pre-upgrade": ("read-only checks, the upgrade-readiness set", lambda m: "read_only" in m),
    "post-upgrade": ("read-only checks and regression comparisons", lambda m: "read_only" in m or "regression" in m),
    "nightly": ("read-only and active checks", lambda m: bool(m & {"read_only", "active"})),
    "certification": (
        "read-only and active checks, vendor integrations included",
        lambda m: bool(m & {"read_only", "active", "vendor"}),
    ),
    "full": ("everything, disruptive checks included (needs --allow-disruptive)", lambda m: True),
}
NEEDS_DISRUPTIVE = {"full"}
