"""The simulator's workers: a reconcile's per-object steps run at once, each counted in the
reconcile's record, and a failure raised only once every step has ended."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from kubernetes import client

from harvester_conformance.cluster.client import Cluster
from harvester_conformance.emulator.simulator import informers, workers
from harvester_conformance.emulator.simulator.informers import CachedCluster
from harvester_conformance.emulator.simulator.workers import each


@pytest.fixture
def cached() -> CachedCluster:
    """A cached client that never connects: the workers need no apiserver."""
    cfg = client.Configuration()
    cfg.host = "https://127.0.0.1:9"
    return CachedCluster(Cluster(cfg), threading.Event())


def test_steps_run_at_once_on_the_cached_client(cached: CachedCluster) -> None:
    meet = threading.Barrier(3, timeout=5)  # broken unless all three steps wait at the same time
    each(cached, lambda _: meet.wait(), range(3))


def test_a_direct_client_runs_the_steps_in_the_callers_thread() -> None:
    cfg = client.Configuration()
    cfg.host = "https://127.0.0.1:9"
    threads: list[threading.Thread] = []
    each(Cluster(cfg), lambda _: threads.append(threading.current_thread()), range(3))
    assert threads == [threading.current_thread()] * 3


def test_each_step_counts_in_the_reconciles_record(cached: CachedCluster) -> None:
    seen: list[object] = []
    with cached.recording() as reads:
        each(cached, lambda _: seen.append(informers.current_reads()), range(4))
    assert seen == [reads] * 4
    assert informers.current_reads() is None


def test_a_failure_is_raised_once_every_step_has_ended(cached: CachedCluster) -> None:
    ended: list[int] = []
    failed = threading.Event()

    def step(i: int) -> None:
        if i == 0:
            failed.set()
            raise ValueError("step 0 failed")
        assert failed.wait(5)  # the others are still writing when step 0 fails
        ended.append(i)

    with pytest.raises(ValueError, match="step 0 failed"):
        each(cached, step, range(4))
    assert sorted(ended) == [1, 2, 3]


def test_a_step_that_fans_out_again_runs_that_serially(cached: CachedCluster) -> None:
    inner: list[threading.Thread] = []

    def step(_: int) -> None:
        each(cached, lambda __: inner.append(threading.current_thread()), range(2))
        assert inner[-1] is threading.current_thread()

    each(cached, step, range(2))
    assert len(inner) == 4


def test_many_steps_are_taken_off_one_queue_by_at_most_the_workers(cached: CachedCluster, monkeypatch) -> None:
    """One task per worker, not one per step: a resync of 2,000 unchanged volumes spent more on
    the executor's bookkeeping than on the steps."""
    pool = ThreadPoolExecutor(workers.WORKERS)
    submitted: list[object] = []
    real_submit = pool.submit

    def counting(fn, *args):
        submitted.append(fn)
        return real_submit(fn, *args)

    monkeypatch.setattr(pool, "submit", counting)
    monkeypatch.setattr(workers, "_executor", lambda: pool)
    done: list[int] = []
    lock = threading.Lock()

    def step(i: int) -> None:
        with lock:
            done.append(i)

    try:
        each(cached, step, range(200))
    finally:
        pool.shutdown()
    assert sorted(done) == list(range(200))
    assert len(submitted) == workers.WORKERS
