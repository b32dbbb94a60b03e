"""A reconcile's per-object work, done by several workers at once.

A controller built on client-go takes keys off its work queue with several workers: KubeVirt's
virt-controller runs its VMI controller on 10 threads (`defaultVMIControllerThreads`, KV
pkg/virt-controller/watch/application.go). The simulator's controllers walked their objects one
at a time instead, each write waiting for the apiserver's answer before the next began: at
2,000 VMs virt-controller and longhorn-manager spent their whole reconcile waiting on answers
while the apiserver was half idle, and the cluster took minutes to settle. `each` gives a
reconcile's independent per-object steps to the controller's own pool of workers; what the steps share
(a disk's free space when replicas are placed) stays in the reconcile's own thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, wait
from typing import TypeVar

from harvester_conformance.cluster.client import Cluster
from harvester_conformance.emulator.simulator.informers import CachedCluster, current_reads, reading_into

T = TypeVar("T")

WORKERS = 10  # each controller's, as virt-controller's VMI controller has
_pools: dict[str, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()
_worker = threading.local()


def _executor() -> ThreadPoolExecutor:
    """The calling controller's own workers: one pool shared by every controller let
    longhorn-manager's 2,000 volumes hold up virt-controller's VMIs behind them."""
    name = threading.current_thread().name
    with _pools_lock:
        pool = _pools.get(name)
        if pool is None:
            pool = _pools[name] = ThreadPoolExecutor(WORKERS, thread_name_prefix=f"{name}-worker")
        return pool


def each(cl: Cluster, fn: Callable[[T], object], items: Iterable[T]) -> None:
    """`fn(item)` for every item, at once on the workers when `cl` is the simulator's cached client.

    Each call's reads and failed writes count in the calling reconcile's record, as the thread's
    own would (an on-change controller must run again after a worker's write failed). Returns
    once every call has ended, raising the first failure then: a reconcile that fails leaves no
    worker still writing into the next. Serial for a direct client (a test or a fault calling a
    controller's code) and inside a worker (no pool waits on itself)."""
    todo = list(items)
    if len(todo) < 2 or not isinstance(cl, CachedCluster) or getattr(_worker, "active", False):
        for item in todo:
            fn(item)
        return
    reads = current_reads()
    queue = iter(todo)
    taking = threading.Lock()
    failures: list[BaseException] = []

    def work() -> None:
        # Workers take the next item off one queue, as client-go's take keys off a work queue:
        # a future per item cost more than the step itself on a resync where nothing changed.
        _worker.active = True
        try:
            with reading_into(reads):
                while True:
                    with taking:
                        item = next(queue, _DONE)
                    if item is _DONE:
                        return
                    try:
                        fn(item)  # type: ignore[arg-type]
                    except Exception as exc:  # noqa: BLE001 - raised in the caller once all ended
                        failures.append(exc)
        finally:
            _worker.active = False

    pool = _executor()
    futures = [pool.submit(work) for _ in range(min(WORKERS, len(todo)))]
    wait(futures)
    if failures:
        raise failures[0]
    for future in futures:
        future.result()  # a worker that failed outside its steps is not lost either


_DONE = object()
