"""The shell script the pod and SSH backends run on a host, and the parser of what it prints.

The script needs only a POSIX `sh` and `base64` (coreutils or busybox): for each path it prints
a begin marker, the file base64-encoded (binary-safe, and no line of it can look like a
marker), and an end marker with the outcome `ok`, `absent` (nothing there, or a directory) or
`error` (there but unreadable); then a final `done` marker, so a cut-off output is detected.
Lines outside the markers (a login banner, a runtime's message) are ignored.
"""

from __future__ import annotations

import base64
import binascii
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field

from harvester_conformance.probes.base import check_paths

MARK = "@@hc-probe"
_LINE = re.compile(rf"{MARK} (begin|end|done)(?: (\d+))?(?: (ok|absent|error))?")
_B64 = re.compile(r"[A-Za-z0-9+/=]*")

_FUNCTION = f"""hc_read() {{
  echo "{MARK} begin $1"
  if [ -d "$2" ] || [ ! -e "$2" ]; then
    echo "{MARK} end $1 absent"
  elif base64 2>/dev/null < "$2"; then
    echo "{MARK} end $1 ok"
  else
    echo "{MARK} end $1 error"
  fi
}}
"""


def build_script(paths: Sequence[str]) -> str:
    """The script that prints every path of `paths` (absolute host paths, shell-quoted here)."""
    checked = check_paths(paths)
    calls = "".join(f"hc_read {i} {shlex.quote(p)}\n" for i, p in enumerate(checked))
    return f'{_FUNCTION}{calls}echo "{MARK} done"\n'


@dataclass
class ScriptOutput:
    files: dict[str, bytes | None] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # path -> why it could not be read


def parse_output(text: str | bytes, paths: Sequence[str]) -> ScriptOutput:
    """The files the script printed for `paths` (same order as given to `build_script`).

    ValueError when the output is not a complete run of the script: a block missing or
    repeated, a line inside a block that is not base64, or no final `done` marker (the
    message quotes the start of the output, which is where a shell or runtime error shows).
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    wanted = list(paths)
    out = ScriptOutput()
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
                if current >= len(wanted) or wanted[current] in out.files or wanted[current] in out.errors:
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
        path, status = wanted[current], m.group(3)
        if status == "ok":
            try:
                out.files[path] = base64.b64decode("".join(chunks), validate=True)
            except binascii.Error as exc:
                raise ValueError(f"probe output: block {current} ({path}) is not valid base64: {exc}") from None
        elif status == "absent":
            out.files[path] = None
        else:
            out.errors[path] = "exists but could not be read"
        current = None
    missing = [p for p in wanted if p not in out.files and p not in out.errors]
    if current is not None or missing or not done:
        head = " | ".join(text.strip().splitlines()[:3])[:300] or "(no output)"
        what = f"no result for {', '.join(missing)}" if missing else "no final marker"
        raise ValueError(f"probe output incomplete ({what}); output began: {head}")
    return out
