"""What the simulator is doing, written to a file when asked (SIGUSR1).

A start-up whose seeding wait runs out says what it last observed, which shows that a controller
did not act but not why. `manage` then asks the simulator, which writes: each controller's
reconcile in progress (how long, and where it is, from its thread's stack), its last failure, and
every informer whose cache disagrees with the apiserver (an object its watch went past but that the
cache lacks, or a watch that stopped moving). The three causes of "the controller never acted" (a
reconcile stuck, one failing quietly, a cache that never saw the object) then read apart.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
import traceback
from pathlib import Path

from harvester_conformance.cluster.client import ApiError, ClusterUnreachable
from harvester_conformance.emulator.simulator.informers import CachedCluster, Informer

log = logging.getLogger("simulator.diagnosis")

REPORT = "simulator-diagnosis.txt"  # beside the simulator's log
BUSY_SECONDS = 5.0  # a reconcile running longer than this is shown with its stack
SETTLE_SECONDS = 3.0  # what a list held, a working watch delivers within this
STACK_FRAMES = 8


class Controllers:
    """Each controller's reconcile in progress (since when, on which thread), run count and last
    failure, kept by `run_controller`."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running: dict[str, tuple[float, int]] = {}
        self.runs: dict[str, int] = {}
        self.failed: dict[str, tuple[float, str]] = {}

    def begin(self, name: str) -> None:
        with self.lock:
            self.running[name] = (time.monotonic(), threading.get_ident())
            self.runs[name] = self.runs.get(name, 0) + 1

    def end(self, name: str, error: str | None = None) -> None:
        with self.lock:
            self.running.pop(name, None)
            if error is not None:
                self.failed[name] = (time.monotonic(), error)

    def lines(self, now: float, frames: dict[int, object]) -> list[str]:
        with self.lock:
            running, runs, failed = dict(self.running), dict(self.runs), dict(self.failed)
        out: list[str] = []
        for name in sorted(set(runs) | set(failed)):
            parts = [f"{runs.get(name, 0)} runs"]
            since, ident = running.get(name, (None, None))
            if since is not None:
                parts.append(f"reconciling for {now - since:.1f}s")
            if name in failed:
                at, error = failed[name]
                parts.append(f"last failure {now - at:.0f}s ago: {error[:200]}")
            out.append(f"  {name}: " + "; ".join(parts))
            if since is not None and now - since >= BUSY_SECONDS and ident in frames:
                stack = traceback.extract_stack(frames[ident])[-STACK_FRAMES:]  # type: ignore[arg-type]
                out += [f"      at {Path(f.filename).name}:{f.lineno} {f.name}" for f in stack]
        return out


def informer_lines(cached: CachedCluster, stop: threading.Event) -> list[str]:
    """Each informer against a list of its type taken SETTLE_SECONDS before: what the list held
    then, a working watch has delivered since. Only informers that missed something are shown."""
    lists: list[tuple[Informer, tuple[list[dict], str] | str]] = []
    for inf in cached.started():
        try:
            lists.append((inf, cached.list_at(inf.res, None, None)))
        except (ApiError, ClusterUnreachable) as exc:
            lists.append((inf, str(exc)))
    stop.wait(SETTLE_SECONDS)
    out: list[str] = []
    now = time.monotonic()
    for inf, listed in lists:
        if isinstance(listed, str):
            out.append(f"  {inf.res.key}: could not list: {listed}")
            continue
        cached_rv, listed_rv, found = inf.compare(*listed)
        if found:
            quiet = now - inf.last_event
            head = f"  {inf.res.key}: cache at {cached_rv}, listed at {listed_rv}, watch quiet for {quiet:.0f}s"
            out += [f"{head}, {inf.restarts} restarts", *(f"      {line}" for line in found[:10])]
    return out


def write(state_dir: Path, controllers: Controllers, cached: CachedCluster, stop: threading.Event) -> Path:
    """The report, written whole (a reader polling for it never sees half of it)."""
    lines = ["controllers:", *controllers.lines(time.monotonic(), sys._current_frames())]
    drifted = informer_lines(cached, stop)
    lines += ["informers that disagree with the apiserver:", *(drifted or ["  none"])]
    path = state_dir / "logs" / REPORT
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, path)
    return path


def serve(
    state_dir: Path, controllers: Controllers, cached: CachedCluster, asked: threading.Event, stop: threading.Event
) -> None:
    """Write the report each time `asked` is set (by the SIGUSR1 handler), on a thread of its own:
    the lists it makes do not belong in a signal handler."""

    def loop() -> None:
        while not stop.is_set():
            asked.wait()
            asked.clear()
            try:
                write(state_dir, controllers, cached, stop)
            except Exception:  # noqa: BLE001 - a failed diagnosis must not end the simulator
                log.exception("diagnosis failed")

    threading.Thread(target=loop, name="diagnosis", daemon=True).start()
