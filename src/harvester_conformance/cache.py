"""Where the project keeps what it builds or installs once (the control plane, Allure Report):
outside the clone, so that fresh checkouts reuse it; HC_CACHE_DIR moves it."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    return Path(os.environ.get("HC_CACHE_DIR", Path.home() / ".cache" / "harvester-conformance"))
