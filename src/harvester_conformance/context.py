"""What one run knows: options, the cluster connection, detected versions and the snapshot."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from harvester_conformance.cluster.client import Cluster
from harvester_conformance.cluster.snapshot import Snapshot


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
    versions: dict[str, str | None] = field(default_factory=dict)
    snapshot_path: Path | None = None
    _cluster: Cluster | None = None
    _snapshot: Snapshot | None = None

    @property
    def cluster(self) -> Cluster:
        """The live connection, for active and disruptive tests (read-only ones use the snapshot)."""
        if self._cluster is None:
            self._cluster = Cluster.from_kubeconfig(self.kubeconfig, self.context)
        return self._cluster

    @property
    def snapshot(self) -> Snapshot:
        if self._snapshot is None:
            if self.snapshot_path and self.snapshot_path.exists():
                self._snapshot = Snapshot.load(self.snapshot_path, self.cluster)
            else:
                self._snapshot = Snapshot(self.cluster)
        return self._snapshot

    def for_workers(self) -> dict:
        return {
            "run_id": self.run_id,
            "run_dir": str(self.run_dir),
            "profile": self.profile,
            "kubeconfig": self.kubeconfig,
            "context": self.context,
            "allow_disruptive": self.allow_disruptive,
            "versions": self.versions,
            "snapshot_path": str(self.snapshot_path) if self.snapshot_path else None,
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
            versions=data["versions"],
            snapshot_path=Path(data["snapshot_path"]) if data["snapshot_path"] else None,
        )
