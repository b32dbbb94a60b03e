"""The `simulated` backend: the emulated cluster's hosts are directories, one per node, holding
each host file at its real path (`<hosts_dir>/<node>/proc/cmdline` is the node's
`/proc/cmdline`; the emulator writes the layout into `<hosts_dir>/README.md`). A directory of
the tree is a directory of the host (a symlink the host would have, such as an entry of
`/sys/block/dm-0/slaves`, is an empty file of that name).

Unit states come from the host's `services.json` (`{"<unit>": {"enabled", "active", "sub"}}`,
the emulator's stand-in for systemd): a unit listed there is loaded, one that is not is
`not-found`, as `systemctl show` reports it.

NIC offload states come from the host's `offloads.json` (`{"<nic>": {"<feature>": "on"|"off"}}`,
ethtool's long feature names; a feature not listed is `on`), printed as `ethtool -k NIC` prints
them; a NIC without `sys/class/net/<nic>` is absent, as the script finds it on a real host.

It takes only the directory: the suite never imports the emulator.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from harvester_conformance.probes.base import HostProbe, HostRead, ProbeError, check_nics, check_paths, check_units
from harvester_conformance.probes.parsers import ACTIVE_STATES, UnitState

SERVICES = "services.json"  # at the top of each host's directory, beside the host's `/`
OFFLOADS = "offloads.json"  # likewise: the NICs' offload features (what ethtool asks the driver)
# The features `ethtool -k` prints for the simulated NICs, in its order (a subset of the kernel's
# netdev_features_strings, enough for the offloads ethtool -K names).
FEATURES = (
    "rx-checksumming",
    "tx-checksumming",
    "scatter-gather",
    "tcp-segmentation-offload",
    "generic-segmentation-offload",
    "generic-receive-offload",
    "large-receive-offload",
    "rx-vlan-offload",
    "tx-vlan-offload",
    "ntuple-filters",
    "receive-hashing",
)
NOT_FOUND = UnitState(load="not-found", active="inactive", sub="dead", unit_file="")


class SimulatedProbe(HostProbe):
    backend = "simulated"

    def __init__(self, hosts_dir: Path | str) -> None:
        self.hosts_dir = Path(hosts_dir)

    def _root(self, node: str) -> Path:
        if not node or "/" in node or node in (".", ".."):
            raise ValueError(f"not a node name: {node!r}")
        root = self.hosts_dir / node
        if not root.is_dir():
            known = sorted(p.name for p in self.hosts_dir.iterdir() if p.is_dir()) if self.hosts_dir.is_dir() else []
            raise ProbeError(f"no simulated host {node!r} under {self.hosts_dir} (hosts: {', '.join(known) or 'none'})")
        return root

    def collect(
        self,
        node: str,
        files: Sequence[str] = (),
        dirs: Sequence[str] = (),
        units: Sequence[str] = (),
        offloads: Sequence[str] = (),
    ) -> HostRead:
        wanted, listed, named, nics = check_paths(files), check_paths(dirs), check_units(units), check_nics(offloads)
        root = self._root(node)
        out = HostRead()
        for path in wanted:
            try:
                out.files[path] = (root / path.lstrip("/")).read_bytes()
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                out.files[path] = None  # as on a real host: nothing, or a directory, at that path
            except OSError as exc:
                raise ProbeError(f"{node}: {path}: {exc.strerror or exc}") from None
        for path in listed:
            d = root / path.lstrip("/")
            try:
                out.dirs[path] = tuple(sorted(p.name for p in d.iterdir())) if d.is_dir() else None
            except OSError as exc:
                raise ProbeError(f"{node}: directory {path}: {exc.strerror or exc}") from None
        if named:
            known = self._services(node, root)
            out.units.update({u: known.get(u, NOT_FOUND) for u in named})
        if nics:
            states = self._offloads(node, root)
            for nic in nics:
                if not (root / "sys/class/net" / nic).is_dir():
                    out.offloads[nic] = None
                    continue
                features = states.get(nic) or {}
                lines = [f"Features for {nic}:", *(f"{f}: {features.get(f, 'on')}" for f in FEATURES)]
                out.offloads[nic] = ("\n".join(lines) + "\n").encode()
        return out

    def _offloads(self, node: str, root: Path) -> dict[str, dict[str, str]]:
        try:
            doc = json.loads((root / OFFLOADS).read_text())
        except FileNotFoundError:
            return {}  # every feature on, the drivers' default
        except (OSError, ValueError) as exc:
            raise ProbeError(f"{node}: {OFFLOADS}: {exc}") from None
        if not isinstance(doc, dict) or not all(isinstance(v, dict) for v in doc.values()):
            raise ProbeError(f"{node}: {OFFLOADS}: expected {{nic: {{feature: on|off}}}}")
        return doc

    def _services(self, node: str, root: Path) -> dict[str, UnitState]:
        try:
            doc = json.loads((root / SERVICES).read_text())
        except FileNotFoundError:
            raise ProbeError(f"{node}: the simulated host has no {SERVICES} (no systemd to ask)") from None
        except (OSError, ValueError) as exc:
            raise ProbeError(f"{node}: {SERVICES}: {exc}") from None
        out = {}
        for unit, entry in doc.items() if isinstance(doc, dict) else ():
            if not isinstance(entry, dict) or entry.get("active") not in ACTIVE_STATES:
                raise ProbeError(f"{node}: {SERVICES}: {unit}: expected enabled/active/sub, got {entry!r}")
            active = str(entry["active"])
            sub = str(entry.get("sub") or ("running" if active == "active" else "dead"))
            out[unit] = UnitState(load="loaded", active=active, sub=sub, unit_file=str(entry.get("enabled") or ""))
        return out
