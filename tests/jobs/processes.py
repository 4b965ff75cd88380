"""Work done in separate processes that share nothing but the database.

The processes come from multiprocessing's fork server: a clean process, started once, that
has imported this module and nothing else (no engine, no connection, unlike the test process)
and forks each worker from there. They are as separate as spawned ones, without paying the
imports again for every process.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from typing import Any

from core.database import make_engine
from core.migrate import upgrade_database
from jobs.job_store import CapReached, JobStore

CONTEXT = multiprocessing.get_context("forkserver")
CONTEXT.set_forkserver_preload([__name__])
TIMEOUT = 60.0
Ready = Callable[[], None]


def run_together(target: Callable[..., Any], argument_lists: list[tuple[Any, ...]]) -> list[Any]:
    """Run ``target(ready, *arguments)`` in one process per argument tuple.

    Each calls ``ready()`` once connected: it returns when all of them are, so they start
    their work together. Returns what each one returned, in order; an exception in any of them
    fails the caller.
    """
    barrier = CONTEXT.Barrier(len(argument_lists))
    results = CONTEXT.Queue()
    processes = [
        CONTEXT.Process(target=_run, args=(index, target, barrier, results, arguments))
        for index, arguments in enumerate(argument_lists)
    ]
    for process in processes:
        process.start()
    outcomes = dict(results.get(timeout=TIMEOUT) for _ in processes)
    for process in processes:
        process.join(timeout=TIMEOUT)
    failures = [outcome for outcome in outcomes.values() if isinstance(outcome, BaseException)]
    if failures:
        raise failures[0]
    return [outcomes[index] for index in range(len(processes))]


def _run(
    index: int,
    target: Callable[..., Any],
    barrier: Any,
    results: Any,
    arguments: tuple[Any, ...],
) -> None:
    def ready() -> None:
        barrier.wait(timeout=TIMEOUT)

    try:
        results.put((index, target(ready, *arguments)))
    except BaseException as error:  # reported to the parent, which raises it
        results.put((index, RuntimeError(f"process {index}: {error!r}")))


def _connected(url: str) -> JobStore:
    store = JobStore(make_engine(url))
    store.ping()
    return store


def claim_all(ready: Ready, url: str, job_ids: list[str], owner: str) -> list[bool]:
    store = _connected(url)
    ready()
    try:
        return [store.claim(job_id, owner, 30.0, 3).run for job_id in job_ids]
    finally:
        store.engine.dispose()


def submit_many(ready: Ready, url: str, count: int, max_active: int) -> int:
    """How many of ``count`` submissions were admitted."""
    store = _connected(url)
    ready()
    admitted = 0
    try:
        for _ in range(count):
            try:
                store.submit({}, total=1, queue="dcgan", max_active=max_active)
                admitted += 1
            except CapReached:
                pass
    finally:
        store.engine.dispose()
    return admitted


def patch_progress(ready: Ready, url: str, job_id: str, prefix: str, count: int) -> int:
    """Write ``count`` progress keys of one's own, reading the job between writes."""
    store = _connected(url)
    ready()
    try:
        for number in range(count):
            store.merge_progress(job_id, {f"{prefix}{number}": number})
            store.get(job_id)
    finally:
        store.engine.dispose()
    return count


def upgrade(ready: Ready, url: str) -> bool:
    ready()
    upgrade_database(url)
    return True
