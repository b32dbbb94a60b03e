"""Work units for pytest-xdist: the tests that must run on one worker, one after the other.

xdist's `xdist_group` marker never reaches its scheduler under pytest 9: xdist 3.8 applies it on
the workers by rewriting `item._nodeid`, while pytest 9's `Node.nodeid` is `str(Node._id)`, so
grouped tests are spread over the workers like any others (two disruptive checks could then run
at once). The scheduler only ever sees node IDs, so the unit is derived from the node ID itself.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from xdist.scheduler import LoadScopeScheduling


class UnitScheduling(LoadScopeScheduling):
    """xdist's scope scheduling with the scope given by `unit_of(nodeid)`: the items of one unit
    go to one worker, in collection order; an item whose unit is its own node ID is balanced
    like under `--dist load`. Units run largest first (xdist's `--loadscope-reorder`)."""

    def __init__(self, config: pytest.Config, log: object, unit_of: Callable[[str], str]) -> None:
        super().__init__(config, log)  # type: ignore[arg-type]
        self._unit_of = unit_of

    def _split_scope(self, nodeid: str) -> str:
        return self._unit_of(nodeid)


def test_function(nodeid: str) -> str:
    """`path::function` of a node ID, without its parameters."""
    return nodeid.split("[", 1)[0]


def grouped(units: dict[str, str]) -> Callable[[str], str]:
    """A unit function: tests named in `units` (`path::function`, matched on the path's end, as
    rootdirs differ) go to the unit given there; every other item is a unit of its own."""

    def unit_of(nodeid: str) -> str:
        name = test_function(nodeid)
        for test, unit in units.items():
            if name == test or name.endswith("/" + test):
                return unit
        return nodeid

    return unit_of
