"""The stop mechanics on their own, in real processes: the time limit interrupts a main thread that
is blocked in a call, a second signal does not cut the unwinding short, a stop waits for a write
and its undo's registration to be both done, and a controller finds its workers (its children).
The runs that use them are in test_disruptive_restore.py."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from harvester_conformance import stopping

# A process that stops as a run does: it prints how it unwound, so the test can read the order.
_CHILD = """
import signal, sys, time
from harvester_conformance import stopping
stopping.install(forward_to_workers=False, deadline={deadline}, limit=1)
try:
    print("ready", flush=True)
    time.sleep(60)
except KeyboardInterrupt:
    print("unwinding:", stopping.reason(), flush=True)
    time.sleep(1.5)  # the undo; a second signal arrives meanwhile
    print("undone", flush=True)
"""


def _start(deadline: str) -> subprocess.Popen[str]:
    code = _CHILD.format(deadline=deadline)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    return proc


def test_the_time_limit_interrupts_a_blocked_main_thread() -> None:
    started = time.monotonic()
    proc = _start("__import__('time').time() + 1")
    out, err = proc.communicate(timeout=30)
    assert out.splitlines() == ["unwinding: time limit of 1 s reached", "undone"]
    assert "[hc] stopping (time limit of 1 s reached)" in err
    assert time.monotonic() - started < 10


def test_a_second_signal_is_acknowledged_not_obeyed() -> None:
    proc = _start("None")
    proc.send_signal(signal.SIGTERM)
    assert proc.stdout is not None and proc.stdout.readline() == "unwinding: SIGTERM\n"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert out == "undone\n" and proc.returncode == 0
    assert "[hc] already stopping (SIGTERM)" in err and "Traceback" not in err


_SHIELDED = """
import time
from harvester_conformance import stopping
stopping.install(forward_to_workers=False)
try:
    with stopping.shielded():
        print("ready", flush=True)
        time.sleep(1.5)  # a write and its undo's registration; the stop comes meanwhile
        print("registered", flush=True)
    print("went on", flush=True)
except KeyboardInterrupt:
    print("unwinding:", stopping.reason(), flush=True)
"""


def test_a_stop_waits_for_a_shielded_step() -> None:
    proc = subprocess.Popen([sys.executable, "-c", _SHIELDED], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    assert out.splitlines() == ["registered", "unwinding: SIGINT"]


def test_a_controller_finds_its_workers() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert child.pid in stopping._children()
    finally:
        child.kill()
        child.wait()
