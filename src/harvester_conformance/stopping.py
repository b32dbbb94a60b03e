"""How a run stops early: Ctrl-C, a cancelled CI job's SIGTERM, or the run's time limit.

The process that runs the tests turns the first of these into KeyboardInterrupt, so that pytest
unwinds as it does for Ctrl-C: every test's change collector undoes what it changed, and the
reports are written, marked interrupted with the reason. Signals that arrive while it unwinds are
only acknowledged: an undo cut short would leave the cluster changed. Under xdist the controller
runs no test: it passes the stop on to its workers and lets them unwind; xdist ends the session
when they report the interruption.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

_lock = threading.Lock()
_reason = ""
_forward = False
_timer: threading.Timer | None = None
_raise_next = False  # the time limit's own signal to this process: unwind on it
_previous: dict[int, object] = {}
_shield_depth = 0  # inside `shielded()`: a stop waits for the block's end
_pending = False


def _stderr(text: str) -> None:
    sys.stderr.write(text)
    sys.stderr.flush()


_say: Callable[[str], None] = _stderr


def reason() -> str:
    """Why the run stopped early ("" while it has not)."""
    return _reason


def install(
    *,
    forward_to_workers: bool,
    deadline: float | None = None,
    limit: float | None = None,
    say: Callable[[str], None] = _stderr,
) -> None:
    """Called once, from the main thread of each process of the run. `deadline` (epoch seconds) is
    when the run's time limit (`limit` seconds) runs out; only the process that stops the others
    (the controller, or the single process) keeps time. `say` reaches the terminal even while a
    test's output is captured."""
    global _forward, _timer, _say
    _forward, _say = forward_to_workers, say
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGINT, signal.SIGTERM):
        _previous.setdefault(sig, signal.signal(sig, _on_signal))
    if deadline is not None:
        _timer = threading.Timer(max(0.0, deadline - time.time()), _stop, (f"time limit of {limit:g} s reached",))
        _timer.daemon = True
        _timer.start()


def uninstall() -> None:
    """The handlers from before `install` back (the run is over: the CLI's own handling resumes)."""
    global _reason, _timer, _raise_next
    _raise_next = False
    if _timer is not None:
        _timer.cancel()
        _timer = None
    if threading.current_thread() is threading.main_thread():
        for sig, handler in _previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
        _previous.clear()
    _reason = ""


@contextlib.contextmanager
def shielded() -> Iterator[None]:
    """A write and the registration of its undo, as one step: a stop that comes in between waits
    for the block's end (bounded by the API call's timeout). Otherwise the write could land on
    the cluster with nothing left to undo it."""
    global _shield_depth, _pending
    _shield_depth += 1
    try:
        yield
    finally:
        _shield_depth -= 1
        if _shield_depth == 0 and _pending:
            _pending = False
            raise KeyboardInterrupt


def _unwind() -> None:
    global _pending
    if _shield_depth:
        _pending = True
        return
    raise KeyboardInterrupt


def _on_signal(signum: int, frame: object) -> None:
    global _raise_next
    if _raise_next:
        _raise_next = False
        _unwind()
        return
    _stop(signal.Signals(signum).name, raise_here=True)


def _stop(why: str, raise_here: bool = False) -> None:
    """The first stop: the workers are told, or this process unwinds. Any later one: a note only."""
    global _reason, _raise_next
    with _lock:
        first = not _reason
        if first:
            _reason = why
    if not first:
        _say(
            f"\n[hc] already stopping ({_reason}): undoing what the run changed. SIGKILL abandons the undo; "
            "`harvester-conformance cleanup` then restores what it left\n"
        )
        return
    _say(f"\n[hc] stopping ({why}): undoing what the run changed, then writing the reports\n")
    if _forward:
        for pid in _children():
            _signal(pid, signal.SIGINT)
    elif raise_here:
        _unwind()
    else:
        # From the timer thread: a real signal, so that a blocked call in the main thread returns.
        _raise_next = True
        _signal(os.getpid(), signal.SIGINT)


def _signal(pid: int, sig: signal.Signals) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _children() -> list[int]:
    """This process's children (the xdist workers), from /proc."""
    me, found = os.getpid(), []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # "pid (comm) state ppid ...": comm may hold spaces, so split after its closing paren.
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == me:
            found.append(int(stat.parent.name))
    return found
