"""Host files of every node, read once per session through the node probe.

Node checks declare the host paths they need the way check packages declare READS: a
`HOST_PATHS` attribute on the package (`conformance/<name>/__init__.py`) or on the test module,
either a sequence of absolute paths or a function of the RunContext returning them (for paths
that depend on cluster objects, such as `/sys/class/net/<nic>/ifindex` for the NICs the networks
name). On first use, the `host_files` fixture takes the union of the paths declared by every
collected test and reads it on every node of the snapshot in one probe read per node (several
nodes at a time: the pod backend pays one pod per read), then keeps the result for the process.

A node the probe could not read is recorded with the reason, never guessed about: checks judge
the nodes that were read, and the invariant is broken (not passed) when an unread node could
have changed the verdict. A probe that cannot be had at all skips the test (ProbeUnavailable).

Use: `from harvester_conformance.hosts import host_files  # noqa: F401` in the package's
conftest.py (or the test module); the cache below makes every such import share one read.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from types import ModuleType

import pytest

from harvester_conformance.cluster import resources as R
from harvester_conformance.context import RunContext
from harvester_conformance.probes import NodeProbe, ProbeUnavailable
from harvester_conformance.probes.base import check_paths
from harvester_conformance.probes.survey import MAX_PARALLEL, UnreadNodes, survey
from harvester_conformance.verdict import Broken

HostPaths = Sequence[str] | Callable[[RunContext], Iterable[str]]


@dataclass
class HostFiles(UnreadNodes):
    """What the probe read: per node, every requested path (None: no regular file there), or
    why the node could not be read."""

    paths: tuple[str, ...]
    files: dict[str, dict[str, bytes | None]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # node -> why it was not read
    backend: str = ""

    @property
    def nodes(self) -> list[str]:
        return sorted({*self.files, *self.errors})

    def readable(self) -> dict[str, dict[str, bytes | None]]:
        """node -> {path: bytes | None}, for the nodes that were read."""
        return {n: self.files[n] for n in sorted(self.files)}

    def get(self, node: str, path: str) -> bytes | None:
        """One file of one read node; KeyError when the path was not declared (a suite defect)."""
        files = self.files[node]
        if path not in files:
            raise KeyError(f"{path} was not read on {node}: declare it in HOST_PATHS")
        return files[path]


# -- which paths ---------------------------------------------------------------------------------
def declared_paths(modules: Iterable[ModuleType], hc: RunContext) -> list[str]:
    """The union of the HOST_PATHS of `modules` and of their packages, in a stable order. A
    declaration that cannot be computed (its objects could not be listed) is left out: the test
    that needs it reports that itself when it reads the same objects."""
    specs: dict[str, HostPaths] = {}
    for module in modules:
        for owner in (module, _package(module)):
            if owner is not None and hasattr(owner, "HOST_PATHS"):
                specs[owner.__name__] = owner.HOST_PATHS
    paths: set[str] = set()
    for spec in specs.values():
        try:
            got = spec(hc) if callable(spec) else spec
            paths.update(check_paths(list(got)))
        except Broken:
            continue
    return sorted(paths)


def _package(module: ModuleType) -> ModuleType | None:
    name = module.__package__ or ""
    if not name or name == module.__name__:
        return None
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


# -- reading -------------------------------------------------------------------------------------
def read_nodes(probe: NodeProbe, nodes: Sequence[str], paths: Sequence[str], parallel: int = MAX_PARALLEL) -> HostFiles:
    """Every path on every node, one probe read per node (the paths were checked when declared).
    ProbeUnavailable for every node means no probe can be had (raised); for some nodes only,
    they are recorded as not read."""
    if not nodes or not paths:
        return HostFiles(tuple(paths), files={n: {} for n in nodes}, backend=probe.backend)
    read = survey(probe, nodes, lambda p, node: p.read(node, list(paths)), parallel)
    return HostFiles(tuple(paths), files=read.facts, errors=read.errors, backend=probe.backend)


_lock = threading.Lock()
_cache: dict[str, HostFiles] = {}


def session_host_files(hc: RunContext, probe: NodeProbe, modules: Iterable[ModuleType]) -> HostFiles:
    """The process's one read of the hosts for this run (computed on first call)."""
    with _lock:
        if hc.run_id not in _cache:
            nodes = sorted(n["metadata"]["name"] for n in hc.snapshot.list(R.NODES))
            _cache[hc.run_id] = read_nodes(probe, nodes, declared_paths(modules, hc))
        return _cache[hc.run_id]


def _collected_modules(session: pytest.Session) -> list[ModuleType]:
    seen: dict[str, ModuleType] = {}
    for item in session.items:
        module = getattr(item, "module", None)
        if module is not None:
            seen.setdefault(module.__name__, module)
    return list(seen.values())


@pytest.fixture(scope="session")
def host_files(request: pytest.FixtureRequest, hc: RunContext, node_probe: NodeProbe) -> HostFiles:
    """The declared host files of every node (see the module docstring); skipped with the reason
    when no node probe can be had."""
    try:
        return session_host_files(hc, node_probe, _collected_modules(request.session))
    except ProbeUnavailable as exc:
        pytest.skip(f"no node probe: {exc.reason}")
