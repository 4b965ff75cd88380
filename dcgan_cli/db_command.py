"""``dcgan db upgrade``: create or upgrade the job records' schema (Alembic migrations).

The API and the workers also run this at start-up, under a lock; run it alone before a
rolling deployment, or as the migration Job on Kubernetes.
"""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("db", help="manage the job records' database")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    upgrade = actions.add_parser("upgrade", help="create or upgrade the schema to the newest")
    upgrade.set_defaults(run=run_upgrade)


def run_upgrade(args: argparse.Namespace) -> int:
    # deferred: torch, Celery and the database layer load only when the command runs
    from jobs.bootstrap import prepare_shared_state

    settings = args.settings
    prepare_shared_state(settings)
    log.info("the database at %s is up to date", settings.database_url.split("@")[-1])
    return 0
