"""What one worker process talks to: the database, the artifact store, the scorer process
and the experiment tracking server.

Everything is opened on first use in the process that uses it. The worker's main process
forks its pool process; ``after_fork`` drops the database connections the child inherited
(SQLAlchemy's recipe: dispose the pool without closing the parent's sockets), so the two
processes never share one.
"""

from __future__ import annotations

from functools import cached_property

from sqlalchemy import Engine

from artifacts.store import ArtifactStore
from core.database import make_engine
from core.settings import Settings
from jobs.job_store import JobStore
from registry.model_records import ModelRecords
from worker.scorer import ScorerProcess
from worker.tracking import Tracker


class WorkerContext:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @cached_property
    def engine(self) -> Engine:
        return make_engine(self.settings.database_url)

    @cached_property
    def jobs(self) -> JobStore:
        return JobStore(self.engine)

    @cached_property
    def models(self) -> ModelRecords:
        return ModelRecords(self.engine)

    @cached_property
    def store(self) -> ArtifactStore:
        return ArtifactStore.from_url(self.settings.store_url)

    @cached_property
    def scorer(self) -> ScorerProcess:
        return ScorerProcess(self.settings)

    @cached_property
    def tracker(self) -> Tracker | None:
        """The process's line to the MLflow server; None without MLFLOW_TRACKING_URI."""
        return Tracker.from_settings(self.settings)

    def after_fork(self) -> None:
        if "engine" in self.__dict__:
            self.engine.dispose(close=False)
        # a tracker's thread does not run in the child: the child starts its own
        self.__dict__.pop("tracker", None)
