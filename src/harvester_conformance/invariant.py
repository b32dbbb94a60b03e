"""`@invariant("KVC-03")`: ties a test to its catalogue entry, which sets its markers."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import pytest

from harvester_conformance.catalogue import entries

F = TypeVar("F", bound=Callable[..., object])


def invariant(*ids: str) -> Callable[[F], F]:
    def deco(fn: F) -> F:
        catalogue = entries()
        for inv in ids:
            if inv not in catalogue:
                raise LookupError(f"{fn.__name__}: {inv} is not in the catalogue")
        marked = pytest.mark.invariant(*ids)(fn)
        for name in dict.fromkeys(m for inv in ids for m in catalogue[inv].markers()):
            marked = getattr(pytest.mark, name)(marked)
        return marked  # type: ignore[return-value]

    return deco
