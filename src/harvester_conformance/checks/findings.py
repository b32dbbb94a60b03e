"""What a check returns: the offending objects, each with what was expected and found."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Finding:
    object: str  # kind/namespace/name, e.g. "Secret harvester-system/kubevirt-ca"
    message: str  # expected vs actual, with the figures

    def __str__(self) -> str:
        return f"{self.object}: {self.message}"
