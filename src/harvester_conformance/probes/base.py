"""The node probe's contract: read files of one host, several at a time; list directories and
ask systemd for unit states in the same call.

Every `node` check reads host facts through this interface, so the same check runs against a
real node (privileged pod or SSH) and against the emulated cluster's simulated hosts. A read
takes a list of paths because the pod backend pays one pod per call; `collect` asks for files,
directory listings and unit states at once for the same reason.

Unit states are not files (systemd keeps them in memory, and `/etc/systemd/system/*.wants`
links tell only part of the enablement story), so the real backends ask `systemctl show` on the
host; the simulated backend answers from the emulated host's `services.json`.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType

from harvester_conformance.probes.parsers import UnitState


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


# systemd unit names (systemd.unit(5)): letters, digits and `:-_.@`, with the type suffix; the
# backslash escapes systemd allows are refused, and so is a leading `-` (never an option).
_UNIT = re.compile(
    r"[A-Za-z0-9_][A-Za-z0-9_:.@-]{0,240}"
    r"\.(service|socket|target|timer|mount|automount|path|swap|slice|scope|device)"
)


def check_units(names: Sequence[str]) -> list[str]:
    """The unit names as a list, refused (ValueError) unless each is a plain unit name with its
    type suffix (`multipathd.service`): they end up in a shell command."""
    if isinstance(names, str):
        raise ValueError("units must be a sequence of unit names, not one string")
    out = list(names)
    for name in out:
        if not isinstance(name, str) or not _UNIT.fullmatch(name):
            raise ValueError(f"not a systemd unit name with its type suffix: {name!r}")
    return out


# Network interface names as the kernel admits them (dev_valid_name: at most 15 bytes, no `/`,
# no whitespace, not `.` or `..`), narrowed to the characters udev and NetworkManager give NICs;
# a leading `-` is refused (never an option of ethtool).
_NIC = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:@-]{0,14}")


def check_nics(names: Sequence[str]) -> list[str]:
    """The interface names as a list, refused (ValueError) unless each is a plain interface name:
    they end up in a shell command (`ethtool -k NIC`) and in a sysfs path."""
    if isinstance(names, str):
        raise ValueError("NICs must be a sequence of interface names, not one string")
    out = list(names)
    for name in out:
        if not isinstance(name, str) or not _NIC.fullmatch(name) or name in (".", ".."):
            raise ValueError(f"not a network interface name: {name!r}")
    return out


@dataclass(frozen=True)
class HostRead:
    """One `collect` of one host: files (None: no regular file there), directory listings
    (sorted entry names; None: no directory there), unit states and NIC offload states (what
    `ethtool -k NIC` prints; None: the host has no such interface), each keyed as asked."""

    files: dict[str, bytes | None] = field(default_factory=dict)
    dirs: dict[str, tuple[str, ...] | None] = field(default_factory=dict)
    units: dict[str, UnitState] = field(default_factory=dict)
    offloads: dict[str, bytes | None] = field(default_factory=dict)


def _unique(items: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(items))


class NodeProbe(ABC):
    """Reads files on cluster nodes. A value of None means: no regular file at that path on the
    host (absent, or a directory); an unreadable file is a ProbeError, never None."""

    backend: str = ""

    @abstractmethod
    def read(self, node: str, paths: Sequence[str]) -> dict[str, bytes | None]:
        """The contents of every path on `node`, keyed by the path as given."""

    def read_one(self, node: str, path: str) -> bytes | None:
        return self.read(node, [path])[path]

    def collect(
        self,
        node: str,
        files: Sequence[str] = (),
        dirs: Sequence[str] = (),
        units: Sequence[str] = (),
        offloads: Sequence[str] = (),
    ) -> HostRead:
        """Files, directory listings, unit states and NIC offload states of `node` in one call
        (one pod, one SSH command). A unit systemd does not know comes back with load state
        `not-found`; a NIC the host does not have with None.

        This default serves probes that can only read files (test doubles): asked for more, it
        raises ProbeError, so the check is broken rather than wrong. The real backends override it.
        """
        wanted, listed, named = _unique(check_paths(files)), _unique(check_paths(dirs)), _unique(check_units(units))
        nics = _unique(check_nics(offloads))
        if listed or named or nics:
            raise ProbeError(
                f"the {self.backend or 'given'} node probe cannot list directories or read unit states or NIC offloads"
            )
        return HostRead(files=self.read(node, wanted) if wanted else {})

    def units(self, node: str, names: Sequence[str]) -> dict[str, UnitState]:
        """The state of every unit of `names` on `node` (systemctl show)."""
        return self.collect(node, units=names).units

    def listdir(self, node: str, paths: Sequence[str]) -> dict[str, tuple[str, ...] | None]:
        """The entry names of every directory of `paths` on `node` (None: no directory there)."""
        return self.collect(node, dirs=paths).dirs

    def offloads(self, node: str, nics: Sequence[str]) -> dict[str, bytes | None]:
        """What `ethtool -k NIC` prints for every NIC of `nics` on `node` (None: no such NIC)."""
        return self.collect(node, offloads=nics).offloads

    def close(self) -> None:  # noqa: B027 - a no-op default: only some backends create things
        """Remove whatever the probe created (pods, connections). Safe to call twice."""

    def __enter__(self) -> NodeProbe:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class HostProbe(NodeProbe):
    """A backend that answers `collect` in full (pod, SSH, simulated): a file read is a collect
    of files only."""

    @abstractmethod
    def collect(
        self,
        node: str,
        files: Sequence[str] = (),
        dirs: Sequence[str] = (),
        units: Sequence[str] = (),
        offloads: Sequence[str] = (),
    ) -> HostRead:
        """Files, directory listings, unit states and NIC offload states of `node` in one call."""

    def read(self, node: str, paths: Sequence[str]) -> dict[str, bytes | None]:
        return self.collect(node, files=paths).files
