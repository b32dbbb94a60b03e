"""`--rerun-failed RUN_DIR`: run again only what failed or broke in an earlier run, and report an
invariant that passes only this time as flaky. A flaky invariant did not hold throughout (the
earlier run saw it violated, or could not evaluate it), so it is never counted as a plain pass."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

from harvester_conformance.reporting.outcomes import InvariantResult

AGAIN = ("failed", "broken")


class RerunError(ValueError):
    """The earlier run cannot be rerun: the caller's input (exit code 2)."""


@dataclass(frozen=True)
class Earlier:
    run_id: str
    profile: str
    # What failed or broke there: ID -> (status, message).
    outcomes: dict[str, tuple[str, str]]


def load(run_dir: str | Path) -> Earlier:
    path = Path(run_dir) / "summary.json"
    try:
        doc = json.loads(path.read_text())
    except OSError as exc:
        raise RerunError(f"--rerun-failed: cannot read {path}: {exc.strerror or exc}") from None
    except ValueError:
        raise RerunError(f"--rerun-failed: {path} is not a summary.json") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("invariants"), list) or not doc.get("run_id"):
        raise RerunError(f"--rerun-failed: {path} is not a summary.json")
    outcomes = {
        r["id"]: (r["status"], r.get("message") or "")
        for r in doc["invariants"]
        if isinstance(r, dict) and r.get("status") in AGAIN and r.get("id")
    }
    return Earlier(str(doc["run_id"]), str(doc.get("profile") or "default"), outcomes)


def mark_flaky(results: dict[str, InvariantResult], earlier: Earlier | None) -> dict[str, InvariantResult]:
    """The rerun's results with every invariant that failed or broke before and passed now as
    `flaky`, its message saying what the earlier run saw (a copy: the collector's own stay)."""
    if earlier is None:
        return results
    out = dict(results)
    for inv, (status, message) in earlier.outcomes.items():
        r = results.get(inv)
        if r is not None and r.status == "passed":
            before = f"{status} in run {earlier.run_id}" + (f": {message}" if message else "")
            out[inv] = replace(r, status="flaky", message=f"passed only on rerun; {before}")
    return out
