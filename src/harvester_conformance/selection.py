"""Suite profiles: which tests a run selects, by their impact and needs markers. The regression
comparisons (IPP-06, NIC-02, UPG-08) need a state recorded before an upgrade: only the profiles
made for after one select them."""

from __future__ import annotations

from collections.abc import Callable

Predicate = Callable[[set[str]], bool]

PROFILES: dict[str, tuple[str, Predicate]] = {
    "quick": (
        "read-only checks that need no node probe, Rancher, guest cluster or vendor",
        lambda m: "read_only" in m and not m & {"node", "rancher", "guest_cluster", "vendor", "regression"},
    ),
    "default": ("every read-only check", lambda m: "read_only" in m and "regression" not in m),
    "pre-upgrade": (
        "read-only checks, the upgrade-readiness set",
        lambda m: "read_only" in m and "regression" not in m,
    ),
    "post-upgrade": (
        "read-only checks and the regression comparisons with --baseline",
        lambda m: "read_only" in m or "regression" in m,
    ),
    "nightly": ("read-only and active checks", lambda m: bool(m & {"read_only", "active"}) and "regression" not in m),
    "certification": (
        "read-only and active checks, vendor integrations included",
        lambda m: bool(m & {"read_only", "active", "vendor"}) and "regression" not in m,
    ),
    "full": (
        "everything, disruptive checks and regression comparisons included (needs --allow-disruptive)",
        lambda m: True,
    ),
}
NEEDS_DISRUPTIVE = {"full"}
