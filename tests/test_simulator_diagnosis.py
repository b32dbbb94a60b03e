"""The simulator's diagnosis of a start-up that failed (simulator/diagnosis.py, manage)."""

from __future__ import annotations

import sys
import threading
import time

from harvester_conformance.emulator import lifecycle, manage
from harvester_conformance.emulator.areas import AREAS
from harvester_conformance.emulator.simulator import diagnosis


def _stuck_here(entered: threading.Event, release: threading.Event) -> None:
    entered.set()
    release.wait(30)


def test_a_reconcile_running_long_is_shown_with_where_it_is() -> None:
    """The stuck controller's line says how long it has been reconciling and shows its stack; a
    controller that failed says so; one that ran fine says only how often."""
    ctl = diagnosis.Controllers()
    entered, release = threading.Event(), threading.Event()

    def reconcile() -> None:
        ctl.begin("ipam")
        _stuck_here(entered, release)
        ctl.end("ipam")

    worker = threading.Thread(target=reconcile)
    worker.start()
    try:
        entered.wait(10)
        ctl.begin("volume-attachments")
        ctl.end("volume-attachments", "ApiError: POST /apis/storage.k8s.io/v1/volumeattachments: HTTP 403")
        ctl.begin("nodes")
        ctl.end("nodes")
        lines = ctl.lines(time.monotonic() + diagnosis.BUSY_SECONDS, sys._current_frames())
    finally:
        release.set()
        worker.join()
    ipam = next(i for i, line in enumerate(lines) if line.startswith("  ipam: "))
    assert "reconciling for" in lines[ipam]
    assert any("_stuck_here" in line for line in lines[ipam + 1 :]), lines
    assert "  nodes: 1 runs" in lines
    va = next(line for line in lines if line.startswith("  volume-attachments: "))
    assert "last failure" in va and "HTTP 403" in va and "reconciling" not in va


def test_a_repeated_log_line_does_not_push_the_others_out_of_the_tail(tmp_path) -> None:
    """One controller failing on every tick is shown once with its count; the other controllers'
    lines, older than its last repetition, stay in the tail."""
    st = lifecycle.State(name="t", dir=tmp_path)
    st.log("simulator").parent.mkdir(parents=True)
    other = "2026-12-06 03:55:00,000 simulator.ipam loadbalancer default/vm-web: HTTP 500"
    storm = [f"2026-12-06 03:56:{i:02d},000 simulator volume-attachments reconcile failed: 403" for i in range(40)]
    text = ["2026-12-06 03:54:00,000 simulator simulator running: ipam", other, *storm]
    st.log("simulator").write_text("\n".join(text) + "\n")
    assert manage.simulator_log_tail(st) == [other, f"{storm[-1]} (x40)"]


def test_the_running_simulator_reports_every_controller_and_no_drift(emulated) -> None:
    """Asked by SIGUSR1, a healthy simulator names each of its controllers and finds every
    informer's cache in agreement with the apiserver."""
    report = manage.simulator_diagnosis(emulated("v1.3.1").state)
    assert report[0] == "controllers:", report
    names = {n for area in AREAS for n, *_ in area.CONTROLLERS}
    shown = {line.split(":")[0].strip() for line in report if line.startswith("  ") and not line.startswith("   ")}
    assert names <= shown, names - shown
    assert report[-2:] == ["informers that disagree with the apiserver:", "  none"], report
