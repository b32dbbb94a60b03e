"""Secret values planted on an emulated cluster, and where a run's outputs leak them: shared by
the tests that hold every output of a run (terminal, reports, diagnostics) to the redaction rule."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import Cluster

from .conftest import RunResult

KNOWN_TOKEN = "hc-test-token-7f3a9c2e51d84b6a"
KNOWN_PASSWORD = "Hunter2-correct-horse-battery"
PLANTED = ("conformance-seeded", "harvester-system")


@contextmanager
def planted_secrets(cl: Cluster) -> Iterator[list[str]]:
    """A Secret with a known token and password, planted for the duration; yields the needles: those
    values (plain and base64) and every line of the private keys of harvester-system's TLS Secrets."""
    seeded = {"token": KNOWN_TOKEN, "password": KNOWN_PASSWORD}
    name, ns = PLANTED
    body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": ns}}
    cl.create(R.SECRETS, {**body, "data": {k: base64.b64encode(v.encode()).decode() for k, v in seeded.items()}}, ns)
    try:
        keys = [
            base64.b64decode(s["data"]["tls.key"]).decode()
            for s in cl.list(R.SECRETS, ns)
            if "tls.key" in (s.get("data") or {})
        ]
        needles = [*seeded.values(), *[base64.b64encode(v.encode()).decode() for v in seeded.values()]]
        yield needles + [line for k in keys for line in k.splitlines() if line and "-----" not in line]
    finally:
        cl.delete(R.SECRETS, name, ns)


def leaks(runs: list[RunResult], needles: list[str]) -> list[tuple[str, str]]:
    """(where, the needle's first characters) for each needle found in a run's terminal output or
    in any file of its reports folder."""
    found = []
    for r in runs:
        haystacks = {"stdout": r.stdout, "stderr": r.stderr}
        haystacks |= {str(p): p.read_text(errors="replace") for p in r.run_dir.rglob("*") if p.is_file()}
        found += [(where, n[:12]) for where, text in haystacks.items() for n in needles if n in text]
    return found
