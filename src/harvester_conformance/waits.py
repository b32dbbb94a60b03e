"""The one way to wait: tenacity, with named timeouts, a lab-wide slowness multiplier,
exponential back-off with jitter, and the last observed state in the failure message."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

from tenacity import RetryError, Retrying, retry_if_result, stop_after_delay, wait_random_exponential

T = TypeVar("T")

# Named timeouts in seconds, before the --timeout-scale multiplier.
TIMEOUTS: dict[str, float] = {
    "api-reachable": 10,
    "control-plane-ready": 120,
    "crd-established": 60,
    "cluster-seeded": 120,
    "certificate-reissued": 90,
    "process-exit": 15,
    "object-deleted": 60,
    "webhook-registration": 30,
    "rbac-granted": 30,  # a role binding takes effect through the apiserver's informers
    "informer-started": 30,  # the simulator lists a type again once it may
    "watch-closed": 10,  # a closed informer's watch ends at once (its stream shut down)
    "simulator-diagnosed": 30,  # it lists every type it caches, against its caches
    # Operations of active and disruptive tests and of the node probe.
    "namespace-created": 30,
    "namespace-deleted": 120,
    "object-restored": 60,
    "vm-running": 180,
    "vmi-stopped": 120,
    "migration-completed": 300,
    "volume-attached": 180,
    "volume-detached": 180,
    "eviction-done": 600,
    "loadbalancer-ip-assigned": 120,
    "setting-applied": 60,
    # A controller catching up with churn seen in the snapshot (MET-01's pod annotations).
    "annotations-settled": 30,
    "credential-renewed": 120,
    "node-probe": 180,
}


class Abort(Exception):
    """Raised by a probe when waiting longer cannot help (a process died): ends the wait at once."""


class WaitTimeout(Exception):
    """Raised when a named wait runs out; carries the last thing that was observed."""

    def __init__(self, name: str, seconds: float, last: object) -> None:
        super().__init__(f"timed out after {seconds:.0f}s waiting for {name}; last observed: {last!r}")
        self.name = name
        self.seconds = seconds
        self.last = last


def timeout_scale() -> float:
    return float(os.environ.get("HC_TIMEOUT_SCALE", "1") or 1)


def wait_for(
    name: str,
    probe: Callable[[], T | None],
    *,
    timeout: float | None = None,
    describe: Callable[[], object] | None = None,
    max_interval: float = 2.0,
) -> T:
    """Poll `probe` until it returns something truthy; that value is returned.

    `probe` may raise: the exception is kept as the last observation and polling goes on,
    except `Abort`, which ends the wait at once.
    """
    seconds = (timeout if timeout is not None else TIMEOUTS[name]) * timeout_scale()
    last: list[object] = [None]

    def attempt() -> T | None:
        try:
            value = probe()
        except Abort:
            raise
        except Exception as exc:  # noqa: BLE001 - the probe's failure is the observation
            last[0] = f"{type(exc).__name__}: {exc}"
            return None
        last[0] = describe() if describe else value
        return value

    retrying = Retrying(
        stop=stop_after_delay(seconds),
        wait=wait_random_exponential(multiplier=0.1, max=max_interval),
        retry=retry_if_result(lambda v: not v),
    )
    try:
        return retrying(attempt)
    except RetryError:
        pass
    # Raised outside the handler, so that an exception being handled when the wait began (a
    # test's failure, when a `finally` waits for its cleanup) stays in the report as this
    # timeout's context instead of being hidden by it.
    raise WaitTimeout(name, seconds, last[0])
