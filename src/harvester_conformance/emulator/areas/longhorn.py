"""Area module (see areas/__init__.py): not yet implemented; contributes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

CONTROLLERS: list[Any] = []
WEBHOOKS: list[dict] = []
FAULTS: list[Any] = []


def seed(cl: Any, spec: Any, state_dir: Path, progress: Any) -> None:
    return None


def ready(cl: Any, spec: Any) -> bool:
    return True
