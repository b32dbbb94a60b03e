"""The `simulated` backend: the emulated cluster's hosts are directories, one per node, holding
each host file at its real path (`<hosts_dir>/<node>/proc/cmdline` is the node's
`/proc/cmdline`; the emulator writes the layout into `<hosts_dir>/README.md`).

It takes only the directory: the suite never imports the emulator.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from harvester_conformance.probes.base import NodeProbe, ProbeError, check_paths


class SimulatedProbe(NodeProbe):
    backend = "simulated"

    def __init__(self, hosts_dir: Path | str) -> None:
        self.hosts_dir = Path(hosts_dir)

    def read(self, node: str, paths: Sequence[str]) -> dict[str, bytes | None]:
        wanted = check_paths(paths)
        if not node or "/" in node or node in (".", ".."):
            raise ValueError(f"not a node name: {node!r}")
        root = self.hosts_dir / node
        if not root.is_dir():
            known = sorted(p.name for p in self.hosts_dir.iterdir() if p.is_dir()) if self.hosts_dir.is_dir() else []
            raise ProbeError(f"no simulated host {node!r} under {self.hosts_dir} (hosts: {', '.join(known) or 'none'})")
        out: dict[str, bytes | None] = {}
        for path in wanted:
            try:
                out[path] = (root / path.lstrip("/")).read_bytes()
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                out[path] = None  # as on a real host: nothing, or a directory, at that path
            except OSError as exc:
                raise ProbeError(f"{node}: {path}: {exc.strerror or exc}") from None
        return out
