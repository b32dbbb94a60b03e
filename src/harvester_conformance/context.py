"""What one run knows: options, the cluster connections by role, detected versions and the
snapshot. The controller builds it; xdist workers get a copy through `for_workers`."""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harvester_conformance.catalogue.releases import Resolution, resolve
from harvester_conformance.cluster.client import Cluster
from harvester_conformance.cluster.reads import GUEST, HARVESTER, RANCHER
from harvester_conformance.cluster.snapshot import Snapshot

# A run ID labels objects: it must be a valid label value (63 characters, alphanumeric ends).
RUN_ID = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$")


def new_run_id() -> str:
    return f"hc-{dt.datetime.now(dt.UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


@dataclass
class RunContext:
    run_id: str
    run_dir: Path
    profile: str
    kubeconfig: str | None
    context: str | None
    allow_disruptive: bool
    rancher_kubeconfig: str | None = None
    guest_kubeconfig: str | None = None
    versions: dict[str, str | None] = field(default_factory=dict)
    snapshot_path: Path | None = None
    baseline_path: str | None = None  # --baseline: the state recorded before an upgrade
    _clusters: dict[str, Cluster] = field(default_factory=dict)
    _snapshot: Snapshot | None = None
    _baseline: dict | None = None

    @property
    def release(self) -> Resolution:
        """The known Harvester release whose rules the checks apply, and the report's note on it."""
        return resolve(self.versions.get("harvester"))

    def kubeconfig_of(self, role: str) -> str | None:
        return {HARVESTER: self.kubeconfig, RANCHER: self.rancher_kubeconfig, GUEST: self.guest_kubeconfig}[role]

    def has(self, role: str) -> bool:
        """Whether the run was given that cluster (the Harvester cluster always is)."""
        return role == HARVESTER or self.kubeconfig_of(role) is not None

    def cluster_for(self, role: str) -> Cluster:
        if role not in self._clusters:
            context = self.context if role == HARVESTER else None
            self._clusters[role] = Cluster.from_kubeconfig(self.kubeconfig_of(role), context)
        return self._clusters[role]

    @property
    def cluster(self) -> Cluster:
        """The live Harvester cluster, for active and disruptive tests (read-only ones use the snapshot)."""
        return self.cluster_for(HARVESTER)

    def connected(self) -> dict[str, Cluster]:
        return dict(self._clusters)

    def use_snapshot(self, snap: Snapshot) -> None:
        """The snapshot just taken and written, for this process's checks (workers read the file)."""
        self._snapshot = snap

    @property
    def snapshot(self) -> Snapshot:
        if self._snapshot is None:
            if self.snapshot_path is None or not self.snapshot_path.exists():
                raise RuntimeError("the run has no snapshot: the controller did not take one")
            self._snapshot = Snapshot.load(self.snapshot_path)
        return self._snapshot

    @property
    def baseline(self) -> dict | None:
        """The state document --baseline names (checked when the run was configured), or None."""
        if self.baseline_path is None:
            return None
        if self._baseline is None:
            from harvester_conformance.upgrade_state import read_baseline

            self._baseline = read_baseline(self.baseline_path)
        return self._baseline

    def read_once(self, name: str, read: Callable[[], Any]) -> Any:
        """A live read beside the snapshot (kubelets through the node proxy), made once for the
        whole run: the first worker to ask reads under a lock in the run's folder and keeps the
        JSON result there (`<name>.json`, beside the snapshot); the others wait and load it."""
        path = self.run_dir / f"{name}.json"
        with open(self.run_dir / f".{name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if path.exists():
                return json.loads(path.read_text())
            value = read()
            part = path.with_suffix(".part")
            part.touch(mode=0o600)
            part.write_text(json.dumps(value))
            part.rename(path)
            return value

    def for_workers(self) -> dict:
        return {
            "run_id": self.run_id,
            "run_dir": str(self.run_dir),
            "profile": self.profile,
            "kubeconfig": self.kubeconfig,
            "context": self.context,
            "allow_disruptive": self.allow_disruptive,
            "rancher_kubeconfig": self.rancher_kubeconfig,
            "guest_kubeconfig": self.guest_kubeconfig,
            "versions": self.versions,
            "snapshot_path": str(self.snapshot_path) if self.snapshot_path else None,
            "baseline_path": self.baseline_path,
        }

    @classmethod
    def from_workerinput(cls, data: dict) -> RunContext:
        return cls(
            run_id=data["run_id"],
            run_dir=Path(data["run_dir"]),
            profile=data["profile"],
            kubeconfig=data["kubeconfig"],
            context=data["context"],
            allow_disruptive=data["allow_disruptive"],
            rancher_kubeconfig=data["rancher_kubeconfig"],
            guest_kubeconfig=data["guest_kubeconfig"],
            versions=data["versions"],
            snapshot_path=Path(data["snapshot_path"]) if data["snapshot_path"] else None,
            baseline_path=data["baseline_path"],
        )
