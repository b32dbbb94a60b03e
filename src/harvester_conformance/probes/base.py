"""The node probe's contract: read files of one host, several at a time.

Every `node` check reads host facts through this interface, so the same check runs against a
real node (privileged pod or SSH) and against the emulated cluster's simulated hosts. A read
takes a list of paths because the pod backend pays one pod per call.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from types import TracebackType


class ProbeUnavailable(Exception):
    """No probe can be had (not allowed, not configured for this node): the check is SKIPPED
    with `reason`, never failed."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ProbeError(Exception):
    """The probe broke while reading (pod failed, SSH refused, output cut short): the check is
    BROKEN, since nothing was learned about the host."""


_BAD_PATH = re.compile(r"[\x00\n\r]")


def check_paths(paths: Sequence[str]) -> list[str]:
    """The paths as a list, refused (ValueError) unless each is absolute, has no `..` component
    and no NUL or line break: they end up in a shell script and in file-system joins."""
    if isinstance(paths, str):
        raise ValueError("paths must be a sequence of paths, not one string")
    out = list(paths)
    for p in out:
        if not isinstance(p, str) or not p.startswith("/"):
            raise ValueError(f"probe path must be absolute: {p!r}")
        if _BAD_PATH.search(p):
            raise ValueError(f"probe path contains a NUL or line break: {p!r}")
        if ".." in p.split("/"):
            raise ValueError(f"probe path must not contain '..': {p!r}")
    return out


class NodeProbe(ABC):
    """Reads files on cluster nodes. A value of None means: no regular file at that path on the
    host (absent, or a directory); an unreadable file is a ProbeError, never None."""

    backend: str = ""

    @abstractmethod
    def read(self, node: str, paths: Sequence[str]) -> dict[str, bytes | None]:
        """The contents of every path on `node`, keyed by the path as given."""

    def read_one(self, node: str, path: str) -> bytes | None:
        return self.read(node, [path])[path]

    def close(self) -> None:  # noqa: B027 - a no-op default: only some backends create things
        """Remove whatever the probe created (pods, connections). Safe to call twice."""

    def __enter__(self) -> NodeProbe:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
