"""summary.json and summary.md (the stable contracts documented in the README), allure's
environment and categories, and the final redaction pass over everything under the run dir."""

from __future__ import annotations

import json
from pathlib import Path

from harvester_conformance.catalogue import entries
from harvester_conformance.catalogue.releases import resolve
from harvester_conformance.reporting.outcomes import ORDER, InvariantResult
from harvester_conformance.reporting.redact import REDACT

MAX_OBJECTS = 50


def invariant_records(results: dict[str, InvariantResult]) -> list[dict]:
    catalogue = entries()
    records = []
    for inv in sorted(results):
        r = results[inv]
        objects = r.objects[:MAX_OBJECTS]
        if len(r.objects) > MAX_OBJECTS:
            objects.append(f"... and {len(r.objects) - MAX_OBJECTS} more")
        records.append(
            {
                "id": inv,
                "status": r.status,
                "message": REDACT(r.message),
                "objects": [REDACT(o) for o in objects],
                "remediation": catalogue[inv].remediation
                if r.status in ("failed", "warned", "broken", "flaky")
                else "",
            }
        )
    return records


def write(
    run_dir: Path,
    *,
    run_id: str,
    profile: str,
    cluster: dict,
    exit_code: int | None,
    results: dict[str, InvariantResult],
    cleanup: list[dict] | None = None,
    state: str = "complete",
    stopped_by: str = "",
    unfinished: list[str] | None = None,
    rerun_of: str | None = None,
) -> dict:
    """`cleanup` lists the undo steps that failed, apart from the invariants' verdicts; `versions`
    says which known release's rules the checks applied to the cluster's Harvester version, and why.
    `state` is "running" (rewritten after each result, exit code null), "complete" or
    "interrupted" (`stopped_by` says why; `unfinished`, the selected invariants with no result).
    `rerun_of` names the earlier run a `--rerun-failed` run reran.
    Each file is replaced whole, so a killed run leaves the last full version."""
    records = invariant_records(results)
    doc = {
        "run_id": run_id,
        "profile": profile,
        "cluster": cluster,
        "versions": resolve((cluster or {}).get("harvester")).record(),
        "state": state,
        "stopped_by": stopped_by or None,
        "unfinished": unfinished or [],
        "exit_code": exit_code,
        "rerun_of": rerun_of,
        "invariants": records,
        "cleanup": cleanup or [],
    }
    replace_file(run_dir / "summary.json", json.dumps(doc, indent=2) + "\n")
    replace_file(run_dir / "summary.md", markdown(doc))
    return doc


def replace_file(path: Path, text: str) -> None:
    """Written whole or not at all: a reader (or a killed run) never sees half a file."""
    part = path.with_name(f".{path.name}.part")
    part.write_text(text)
    part.replace(path)


def counts(records: list[dict]) -> dict[str, int]:
    return {s: sum(1 for r in records if r["status"] == s) for s in ORDER}


def markdown(doc: dict) -> str:
    catalogue = entries()
    c = counts(doc["invariants"])
    lines = [
        f"# Harvester conformance run {doc['run_id']}",
        "",
        f"Profile `{doc['profile']}`, {_state_line(doc)}. "
        + ", ".join(f"{n} {s}" for s, n in c.items() if n)
        + (f" (a rerun of what failed or broke in run {doc['rerun_of']})" if doc.get("rerun_of") else ""),
        "",
        "| component | version |",
        "|---|---|",
        *[f"| {k} | {v or 'unknown'} |" for k, v in doc["cluster"].items()],
        "",
        *_rules_line(doc.get("versions")),
        "| invariant | status | title |",
        "|---|---|---|",
        *[f"| {r['id']} | {r['status']} | {catalogue[r['id']].title} |" for r in doc["invariants"]],
        "",
    ]
    if doc.get("cleanup"):
        lines += ["## Cleanup failures (apart from the verdicts)", ""]
        lines += [f"- {c['test']}: {c['step']}: {c['error']}" for c in doc["cleanup"]]
        lines.append("")
    for r in doc["invariants"]:
        if r["status"] in ("failed", "broken", "flaky", "warned"):
            lines += [f"## {r['id']}: {r['status']}", "", "```", r["message"], "```", ""]
            if r["objects"]:
                lines += ["Objects:", *[f"- {o}" for o in r["objects"]], ""]
            if r["remediation"]:
                lines += [f"Remediation: {r['remediation']}", ""]
    return "\n".join(lines)


def _state_line(doc: dict) -> str:
    if doc["state"] == "running":
        return "still running (the results so far)"
    if doc["state"] == "interrupted":
        left = f"; no result for {', '.join(doc['unfinished'])}" if doc["unfinished"] else ""
        return f"stopped early ({doc['stopped_by']}){left}, exit code {doc['exit_code']}"
    return f"exit code {doc['exit_code']}"


def _rules_line(versions: dict | None) -> list[str]:
    if not versions:
        return []
    line = f"Rules of Harvester {versions['rules_from']}"
    return [f"{line}: {versions['note']}." if versions["note"] else f"{line}.", ""]


def allure_metadata(allure_dir: Path, cluster: dict) -> None:
    allure_dir.mkdir(parents=True, exist_ok=True)
    env = {**cluster, "rules_from": resolve(cluster.get("harvester")).rules_from}
    (allure_dir / "environment.properties").write_text("".join(f"{k}={v or 'unknown'}\n" for k, v in env.items()))
    (allure_dir / "categories.json").write_text(
        json.dumps(
            [
                {"name": "Cluster does not conform", "matchedStatuses": ["failed"]},
                {"name": "Could not evaluate (broken)", "matchedStatuses": ["broken"]},
                {"name": "Passed only on rerun (flaky)", "matchedStatuses": ["passed"], "flaky": True},
            ],
            indent=2,
        )
    )


def allure_flaky(allure_dir: Path, flaky: set[str]) -> int:
    """Mark the results of the tests of flaky invariants (label story = ID) as allure's flaky."""
    marked = 0
    for path in allure_dir.glob("*-result.json") if flaky else ():
        doc = json.loads(path.read_text())
        if any(lab.get("name") == "story" and lab.get("value") in flaky for lab in doc.get("labels") or []):
            doc.setdefault("statusDetails", {})["flaky"] = True
            path.write_text(json.dumps(doc))
            marked += 1
    return marked


def redact_tree(root: Path) -> int:
    """Last line of defence: rewrite any file under the run dir that contains a secret."""
    changed = 0
    for path in root.rglob("*"):
        if not path.is_file() or path.stat().st_size > 20_000_000:
            continue
        try:
            text = path.read_text()
        except (UnicodeDecodeError, OSError):
            continue
        clean = REDACT(text)
        if clean != text:
            path.write_text(clean)
            changed += 1
    return changed
