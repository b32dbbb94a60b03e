"""The shell script the pod and SSH backends run on a host, and the parser of what it prints.

The script needs only a POSIX `sh`, `base64` and `ls` (coreutils or busybox), and `systemctl`
when unit states are asked. For each item it prints a begin marker, the payload base64-encoded
(binary-safe, and no line of it can look like a marker), and an end marker with the outcome
`ok`, `absent` (nothing there, or not of the kind asked) or `error` (there but unreadable, or
the command failed); then a final `done` marker, so a cut-off output is detected. Lines
outside the markers (a login banner, a runtime's message) are ignored.

Four kinds of item, numbered in one sequence (files, directories, units, then NICs):
- a file: its bytes (`absent` for a directory or nothing);
- a directory: `ls -A` of it, one name per line (`absent` when it is not a directory);
- a unit: `systemctl show -p LoadState,ActiveState,SubState,UnitFileState -- UNIT`. systemd
  answers `LoadState=not-found` for a unit it does not know (exit status 0); a failure (no
  systemd, no bus) is `error`. `SYSTEMD_IGNORE_CHROOT=1` because the pod backend runs in a
  chroot of the host root, where systemctl would otherwise decline to talk to the host's systemd.
- a NIC's offload state: `ethtool -k NIC` (`absent` when /sys/class/net/NIC does not exist). The
  pod backend runs in the pod's network namespace, where the host's NICs are not: when the plain
  call fails, the script enters the host's network namespace (`nsenter --net=/proc/1/ns/net`,
  /proc being the host's; privileged pods may). Over SSH the plain call answers. ethtool lives in
  /usr/sbin on Harvester (the article's path), so that directory is put on PATH.

Paths, unit names and NIC names are validated (`base.check_paths`, `base.check_units`,
`base.check_nics`) and shell-quoted.
"""

from __future__ import annotations

import base64
import binascii
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field

from harvester_conformance.probes.base import HostRead, check_nics, check_paths, check_units
from harvester_conformance.probes.parsers import parse_unit_state

MARK = "@@hc-probe"
_LINE = re.compile(rf"{MARK} (begin|end|done)(?: (\d+))?(?: (ok|absent|error))?")
_B64 = re.compile(r"[A-Za-z0-9+/=]*")
UNIT_PROPERTIES = "LoadState,ActiveState,SubState,UnitFileState"

_FUNCTIONS = f"""hc_read() {{
  echo "{MARK} begin $1"
  if [ -d "$2" ] || [ ! -e "$2" ]; then
    echo "{MARK} end $1 absent"
  elif base64 2>/dev/null < "$2"; then
    echo "{MARK} end $1 ok"
  else
    echo "{MARK} end $1 error"
  fi
}}
hc_list() {{
  echo "{MARK} begin $1"
  if [ ! -d "$2" ]; then
    echo "{MARK} end $1 absent"
  elif hc_out=$(ls -A -- "$2" 2>/dev/null); then
    printf '%s' "$hc_out" | base64
    echo "{MARK} end $1 ok"
  else
    echo "{MARK} end $1 error"
  fi
}}
hc_unit() {{
  echo "{MARK} begin $1"
  if hc_out=$(SYSTEMD_IGNORE_CHROOT=1 SYSTEMD_PAGER= systemctl show -p {UNIT_PROPERTIES} -- "$2" 2>/dev/null); then
    printf '%s\\n' "$hc_out" | base64
    echo "{MARK} end $1 ok"
  else
    echo "{MARK} end $1 error"
  fi
}}
hc_offloads() {{
  echo "{MARK} begin $1"
  if [ ! -e "/sys/class/net/$2" ]; then
    echo "{MARK} end $1 absent"
  elif hc_out=$(PATH="/usr/sbin:/sbin:$PATH"; ethtool -k "$2" 2>/dev/null || \
      nsenter --net=/proc/1/ns/net ethtool -k "$2" 2>/dev/null); then
    printf '%s\n' "$hc_out" | base64
    echo "{MARK} end $1 ok"
  else
    echo "{MARK} end $1 error"
  fi
}}
"""

_CALL = {"file": "hc_read", "dir": "hc_list", "unit": "hc_unit", "nic": "hc_offloads"}


def _items(
    paths: Sequence[str], dirs: Sequence[str], units: Sequence[str], nics: Sequence[str] = ()
) -> list[tuple[str, str]]:
    """(kind, argument) in script order, each argument validated."""
    return [
        *(("file", p) for p in check_paths(paths)),
        *(("dir", d) for d in check_paths(dirs)),
        *(("unit", u) for u in check_units(units)),
        *(("nic", n) for n in check_nics(nics)),
    ]


def build_script(
    paths: Sequence[str], dirs: Sequence[str] = (), units: Sequence[str] = (), nics: Sequence[str] = ()
) -> str:
    """The script that prints every file of `paths`, lists every directory of `dirs`, shows
    every unit of `units` and the offload state of every NIC of `nics` (absolute host paths,
    unit names and interface names, shell-quoted here)."""
    items = _items(paths, dirs, units, nics)
    calls = "".join(f"{_CALL[kind]} {i} {shlex.quote(arg)}\n" for i, (kind, arg) in enumerate(items))
    return f'{_FUNCTIONS}{calls}echo "{MARK} done"\n'


@dataclass
class ScriptOutput:
    files: dict[str, bytes | None] = field(default_factory=dict)
    dirs: dict[str, tuple[str, ...] | None] = field(default_factory=dict)
    units: dict[str, bytes] = field(default_factory=dict)  # unit -> `systemctl show` output
    offloads: dict[str, bytes | None] = field(default_factory=dict)  # NIC -> `ethtool -k` output
    errors: dict[str, str] = field(default_factory=dict)  # what -> why it could not be read

    def error_text(self) -> str:
        return "; ".join(f"{what} {why}" for what, why in self.errors.items())


_ERRORS = {
    "file": ("{}", "exists but could not be read"),
    "dir": ("directory {}", "exists but could not be listed"),
    "unit": ("unit {}", "could not be shown (systemctl show failed: no systemd, or no access to it)"),
    "nic": ("NIC {}", "offloads could not be read (ethtool -k failed: no ethtool, or no access to the host's network)"),
}


def _store(out: ScriptOutput, kind: str, arg: str, status: str, payload: bytes) -> None:
    if status == "error":
        what, why = _ERRORS[kind]
        out.errors[what.format(arg)] = why
    elif kind == "file":
        out.files[arg] = payload if status == "ok" else None
    elif kind == "dir":
        names = payload.decode("utf-8", errors="replace").split("\n")
        out.dirs[arg] = tuple(sorted(n for n in names if n)) if status == "ok" else None
    elif kind == "nic":
        out.offloads[arg] = payload if status == "ok" else None
    elif status == "ok":
        out.units[arg] = payload
    else:  # pragma: no cover - hc_unit never prints `absent`
        raise ValueError(f"probe output: unit {arg} reported absent")


def parse_output(
    text: str | bytes,
    paths: Sequence[str],
    dirs: Sequence[str] = (),
    units: Sequence[str] = (),
    nics: Sequence[str] = (),
) -> ScriptOutput:
    """What the script printed for `paths`, `dirs`, `units` and `nics` (as given to `build_script`).

    ValueError when the output is not a complete run of the script: a block missing or
    repeated, a line inside a block that is not base64, or no final `done` marker (the
    message quotes the start of the output, which is where a shell or runtime error shows).
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    items = [(kind, arg) for kind, arg in _items(paths, dirs, units, nics)]
    out = ScriptOutput()
    seen: set[int] = set()
    current: int | None = None
    chunks: list[str] = []
    done = False
    for line in text.splitlines():
        m = _LINE.fullmatch(line.strip())
        if current is None:
            if m is None:
                continue  # noise outside the blocks
            kind, index = m.group(1), m.group(2)
            if kind == "done" and index is None:
                done = True
            elif kind == "begin" and index is not None:
                current = int(index)
                if current >= len(items) or current in seen:
                    raise ValueError(f"probe output: unexpected or repeated block {current}")
                chunks = []
            else:
                raise ValueError(f"probe output: {line.strip()!r} outside a block")
            continue
        if m is None:
            if not _B64.fullmatch(line.strip()):
                raise ValueError(f"probe output: block {current} has a line that is not base64: {line[:80]!r}")
            chunks.append(line.strip())
            continue
        if m.group(1) != "end" or m.group(2) != str(current) or m.group(3) is None:
            raise ValueError(f"probe output: block {current} not closed before {line.strip()!r}")
        kind, arg = items[current]
        payload = b""
        if m.group(3) == "ok":
            try:
                payload = base64.b64decode("".join(chunks), validate=True)
            except binascii.Error as exc:
                raise ValueError(f"probe output: block {current} ({arg}) is not valid base64: {exc}") from None
        _store(out, kind, arg, m.group(3), payload)
        seen.add(current)
        current = None
    missing = [arg for i, (_, arg) in enumerate(items) if i not in seen]
    if current is not None or missing or not done:
        head = " | ".join(text.strip().splitlines()[:3])[:300] or "(no output)"
        what = f"no result for {', '.join(missing)}" if missing else "no final marker"
        raise ValueError(f"probe output incomplete ({what}); output began: {head}")
    return out


def host_read(out: ScriptOutput) -> HostRead:
    """The HostRead of a complete output without errors; ValueError when a unit's `systemctl
    show` output does not parse (named)."""
    units = {}
    for unit, raw in out.units.items():
        try:
            units[unit] = parse_unit_state(raw)
        except ValueError as exc:
            raise ValueError(f"unit {unit}: {exc}") from None
    return HostRead(files=dict(out.files), dirs=dict(out.dirs), units=units, offloads=dict(out.offloads))
