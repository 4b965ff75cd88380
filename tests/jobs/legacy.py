"""A jobs database exactly as the single-machine store made it, before migrations existed."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

# The store's schema, verbatim (it ran this on every start; no alembic_version table).
LEGACY_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    state TEXT NOT NULL,
    params TEXT NOT NULL,
    progress TEXT NOT NULL DEFAULT '{}',
    error TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until REAL,
    enqueued_at REAL,
    started_at REAL,
    finished_at REAL
);
CREATE INDEX IF NOT EXISTS jobs_by_created ON jobs (created_at DESC);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state);
CREATE TABLE IF NOT EXISTS stopping_workers (hostname TEXT PRIMARY KEY, since REAL NOT NULL);
"""

# id, created_at, updated_at, state, params, progress, error, cancel_requested, attempts,
# lease_owner, lease_until, enqueued_at, started_at, finished_at
LEGACY_JOBS = [
    ("queued1", 100.0, 100.5, "queued", {"iterations": 50}, {"step": 0, "total": 50},
     None, 0, 0, None, None, 100.25, None, None),
    ("running1", 200.0, 230.0, "running", {"iterations": 80, "seed": 3},
     {"step": 40, "total": 80, "d_loss": 0.5, "device": "cpu"},
     None, 1, 2, "host-a", 260.0, 200.5, 201.0, None),
    ("done1", 300.0, 390.0, "succeeded", {"iterations": 10},
     {"step": 10, "total": 10, "d_loss": 0.25, "g_loss": 1.5, "checkpoints": ["step_10"]},
     None, 0, 1, None, None, 300.5, 301.0, 390.0),
]


def make_legacy_database(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(LEGACY_SCHEMA)
        for row in LEGACY_JOBS:
            values = list(row)
            values[4], values[5] = json.dumps(values[4]), json.dumps(values[5])
            db.execute(f"INSERT INTO jobs VALUES ({', '.join('?' * len(values))})", values)
        db.execute("INSERT INTO stopping_workers VALUES ('host-b', 123.0)")
    finally:
        db.close()
