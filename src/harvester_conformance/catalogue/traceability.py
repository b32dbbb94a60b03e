"""Which tests assert which invariant, read from the test modules without running them."""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from pathlib import Path


def conformance_root() -> Path:
    """Found, not imported: imported before pytest starts, the package would escape pytest's
    assertion rewriting (and pytest would warn about it on every run)."""
    spec = importlib.util.find_spec("conformance")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError("the conformance package is not installed")
    return Path(spec.origin).parent


def invariant_tests() -> dict[str, list[str]]:
    """Invariant ID -> test node IDs (relative to the directory holding `conformance/`)."""
    import conformance

    found: dict[str, list[str]] = {}
    base = conformance_root().parent
    for mod_info in pkgutil.walk_packages(conformance.__path__, prefix="conformance."):
        if not mod_info.name.rsplit(".", 1)[-1].startswith("test_"):
            continue
        module = importlib.import_module(mod_info.name)
        rel = Path(module.__file__).relative_to(base).as_posix()
        for name, obj in vars(module).items():
            if not name.startswith("test_") or not callable(obj):
                continue
            for mark in getattr(obj, "pytestmark", []):
                if mark.name == "invariant":
                    for inv in mark.args:
                        found.setdefault(inv, []).append(f"{rel}::{name}")
    return found
