"""Two API replicas (real uvicorn processes) sharing one jobs database take submissions at
the same moment: together they never admit more jobs than ``DCGAN_MAX_ACTIVE_JOBS``."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis

from core.database import make_engine
from jobs.job_store import JobStore
from tests.e2e.conftest import REDIS_URL
from tests.support.databases import postgres_database
from tests.support.stack import Stack

pytestmark = pytest.mark.processes

CAP = 5
PER_REPLICA = 20


@contextmanager
def shared_database(engine: str, root: Path) -> Iterator[str]:
    if engine == "postgresql":
        with postgres_database() as url:
            yield url
    else:
        yield f"sqlite:///{root / 'shared' / 'jobs.sqlite3'}"


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_two_replicas_submitting_at_once_never_exceed_the_cap(engine, tmp_path, data_dir):
    queue = f"test-{uuid.uuid4().hex[:12]}"
    with shared_database(engine, tmp_path) as url:
        env = {"DCGAN_DATABASE_URL": url, "DCGAN_MAX_ACTIVE_JOBS": str(CAP),
               "DCGAN_QUEUE": queue}
        replicas = [Stack(tmp_path / name, REDIS_URL, **env) for name in ("a", "b")]
        statuses: Counter[int] = Counter()
        go = threading.Barrier(2 * PER_REPLICA)

        def submit(replica: Stack) -> None:
            with replica.client() as client:
                go.wait()
                reply = client.post("/jobs", json={"iterations": 5})
                statuses[reply.status_code] += 1

        try:
            for replica in replicas:
                replica.start_api(wait=False)
            for replica in replicas:
                replica.wait_api()
            threads = [threading.Thread(target=submit, args=(replica,))
                       for replica in replicas for _ in range(PER_REPLICA)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        finally:
            for replica in replicas:
                replica.stop_all()
            redis.Redis.from_url(REDIS_URL).delete(queue, f"_kombu.binding.{queue}")
        assert statuses == {202: CAP, 429: 2 * PER_REPLICA - CAP}, statuses
        engine_ = make_engine(url)
        try:
            assert JobStore(engine_).count_active() == CAP
        finally:
            engine_.dispose()
