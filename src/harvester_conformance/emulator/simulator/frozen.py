"""Read-only objects for the informers' cache.

client-go's listers hand every controller the cache's own objects and forbid editing them: a
controller that wants to change one deep-copies it first. Copying every object on every read
cost the simulator most of its CPU at scale (a list of 2,000 pods copied by each controller on
each tick), so the cache now does the same: what `Informer.list` returns is shared, and built
from these types so that an edit fails at once instead of silently changing what every other
controller reads. `thaw` is the deep copy a controller takes before editing.
"""

from __future__ import annotations

from typing import Any


def _guard(base: Any) -> Any:
    """`base`, an editing method of dict or list, refused on a shared object."""

    def refuse(obj: object, *args: object, **kwargs: object) -> Any:
        raise TypeError(f"{type(obj).__name__}.{base.__name__}: an informer's shared object; thaw() it before editing")

    return refuse


class _Frozen:
    """What both frozen types share: a copy of one is a plain, editable object."""

    __slots__ = ()
    _plain: type

    def __copy__(self) -> Any:
        return self._plain(self)

    def __deepcopy__(self, memo: dict) -> Any:
        return thaw(self)

    def __reduce__(self) -> tuple:
        return self._plain, (thaw(self),)


class FrozenDict(_Frozen, dict):
    """A dict that refuses every edit (JSON-encodes and compares as a dict)."""

    __slots__ = ()
    _plain = dict


class FrozenList(_Frozen, list):
    """A list that refuses every edit."""

    __slots__ = ()
    _plain = list


_EDITS = {
    FrozenDict: ("__setitem__", "__delitem__", "__ior__", "update", "setdefault", "pop", "popitem", "clear"),
    FrozenList: (
        *("__setitem__", "__delitem__", "__iadd__", "__imul__", "append", "extend"),
        *("insert", "remove", "pop", "clear", "sort", "reverse"),
    ),
}
for _cls, _names in _EDITS.items():
    for _name in _names:
        setattr(_cls, _name, _guard(getattr(_cls._plain, _name)))


def freeze(obj: Any) -> Any:
    """The cache's form of a decoded object: every dict and list in it read-only."""
    if isinstance(obj, dict):
        return obj if type(obj) is FrozenDict else FrozenDict((k, freeze(v)) for k, v in obj.items())
    if isinstance(obj, list):
        return obj if type(obj) is FrozenList else FrozenList(freeze(v) for v in obj)
    return obj


def thaw(obj: Any) -> Any:
    """A private, editable deep copy (plain dicts and lists)."""
    if isinstance(obj, dict):
        return {k: thaw(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [thaw(v) for v in obj]
    return obj
