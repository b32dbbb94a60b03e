"""The terminal's account of a run, in the outcome model only: one line per invariant, and for one
that did not pass, one line of why. Tracebacks are pytest's vocabulary, not the user's; they go to
the run's tracebacks.log."""

from __future__ import annotations

from collections.abc import Iterator

from harvester_conformance.catalogue import entries
from harvester_conformance.reporting import summary

NOT_PASSED = ("failed", "broken", "warned", "flaky")
COLOUR = {"failed": "red", "broken": "red", "warned": "yellow", "flaky": "yellow", "passed": "green"}
REASON_WIDTH = 240


def cleanup_line(entry: dict) -> str:
    return f"cleanup failed after {entry['test']}: {entry['step']}: {entry['error']}"


def reason(message: str, width: int = REASON_WIDTH) -> str:
    """The first offending object, or the message's first line when it names none (a broken read);
    summary.md has the whole message."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    if not lines:
        return ""
    findings = [line[2:] for line in lines if line.startswith("- ")]
    first = findings[0] if findings else lines[0]
    if len(first) > width:
        first = first[: width - 3] + "..."
    return first + (f" (and {len(findings) - 1} more)" if len(findings) > 1 else "")


def lines(doc: dict, notes: list[str]) -> Iterator[tuple[str, str]]:
    """(text, colour) pairs from the summary document; colour is "" or a name pytest's writer takes.
    `notes` are the run's own lines (where reports, tracebacks and evidence went)."""
    titles = entries()
    for r in doc["invariants"]:
        yield f"{r['id']:<8} {r['status']:<8} {titles[r['id']].title}", COLOUR.get(r["status"], "")
        if r["status"] in NOT_PASSED and r["message"]:
            yield f"{'':<8} {reason(r['message'])}", ""
    counts = summary.counts(doc["invariants"])
    yield ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "no invariant evaluated", ""
    if doc["state"] == "interrupted":
        left = doc["unfinished"]
        yield (
            f"run stopped early ({doc['stopped_by']}); no result for {len(left)} selected invariant(s)"
            + (f": {', '.join(left)}" if left else ""),
            "red",
        )
    for c in doc["cleanup"]:
        yield cleanup_line(c), "red"
    for note in notes:
        yield note, "red" if note.startswith("evidence bundle: could not") else ""
    yield f"exit code {doc['exit_code']}", ""
