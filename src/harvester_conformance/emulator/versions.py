"""Pinned versions of the emulated control plane, and where its build cache lives.

One place for these pins: the build script receives them through the environment.
"""

from __future__ import annotations

import os
from pathlib import Path

from harvester_conformance.cache import cache_root

KUBERNETES = "v1.34.4"
# etcd minor that Kubernetes 1.34 is tested with.
ETCD = "v3.6.4"
KWOK = "v0.7.0"

BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "kwokctl")


def bin_dir() -> Path:
    return cache_root() / f"k8s-{KUBERNETES}-etcd-{ETCD}-kwok-{KWOK}" / "bin"


def state_root() -> Path:
    """Where running clusters keep their state; one sub-directory per cluster name."""
    return Path(os.environ.get("HC_STATE_DIR", cache_root() / "clusters"))


def version_tuple(text: str | None) -> tuple[int, ...]:
    """ "v1.3.1", "1.1.1-150500.8.15.1" -> (1, 3, 1); "dev", empty or unparsable -> a version newer
    than any (Harvester's `server-version` default is "dev" on builds from source)."""
    core = (text or "").lstrip("v").split("-")[0].split("+")[0]
    try:
        return tuple(int(x) for x in core.split("."))
    except ValueError:
        return (99,)
