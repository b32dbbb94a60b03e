"""Which reads a run needs: the union of the READS that the selected check packages declare.

Selection is decided from the catalogue (profile markers and --id) and the traceability map,
not from collected items, because under xdist the controller collects nothing and must take
the snapshot before any worker starts.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable

from harvester_conformance.catalogue import entries
from harvester_conformance.catalogue.traceability import invariant_tests
from harvester_conformance.cluster.reads import CORE, Read


def package_of(nodeid: str) -> str:
    """`conformance/kubevirt_certificates/test_x.py::test_y` -> `kubevirt_certificates`."""
    parts = nodeid.split("::", 1)[0].split("/")
    return parts[parts.index("conformance") + 1]


def selected_ids(predicate: Callable[[set[str]], bool], wanted: Iterable[str]) -> set[str]:
    wanted = set(wanted)
    if wanted:
        return wanted
    return {e.id for e in entries().values() if predicate(set(e.markers()))}


def packages_for(ids: Iterable[str]) -> set[str]:
    tests = invariant_tests()
    return {package_of(nodeid) for inv in ids for nodeid in tests.get(inv, [])}


def package_reads(package: str) -> tuple[Read, ...]:
    module = importlib.import_module(f"conformance.{package}")
    reads = getattr(module, "READS", None)
    if reads is None:
        raise LookupError(f"conformance/{package}/__init__.py declares no READS")
    return tuple(reads)


def reads_for(ids: Iterable[str], only: set[str] | None = None) -> list[Read]:
    """The core reads plus those of every package holding a test of `ids` (within `only`)."""
    packages = packages_for(ids)
    if only is not None:
        packages &= only
    return [*CORE, *(r for p in sorted(packages) for r in package_reads(p))]
