"""A sweep's members ranked by the score it names: each member's model is its job's final
checkpoint (else its newest), with the figures the workers scored it with. Members are ranked
within their data set (a score means something only against one data set's classifier);
members not scored (yet), or without a model, come after, unranked.

``by_setting`` ranks the settings tried, each over the seeds it ran with: one seed's result
can lead a ranking that other seeds do not confirm."""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from typing import Any

from jobs.job_store import JobRecord
from jobs.sweep_spec import RankBy, better_first, score_of
from jobs.sweeps import SweepRecord
from registry.model_records import ModelRecord, ModelRecords


def member_model(own: list[ModelRecord]) -> ModelRecord | None:
    """A job's final checkpoint, else its newest, of its checkpoints ``own``."""
    finals = [record for record in own if record.final]
    chosen = finals or own
    return chosen[-1] if chosen else None


def ranking(
    sweep: SweepRecord, member_jobs: dict[int, JobRecord], records: ModelRecords
) -> list[dict[str, Any]]:
    rank_by = sweep.rank_by
    rows: list[dict[str, Any]] = []
    checkpoints = records.of_jobs([job.id for job in member_jobs.values()])
    for index, params in enumerate(sweep.members):
        job = member_jobs.get(index)
        model = member_model(checkpoints.get(job.id, [])) if job else None
        metrics = (model.metrics if model else None) or {}
        rows.append({
            "member": index, "params": params, "job": job.id if job else None,
            "state": job.state.value if job else "waiting",
            "model": model.id if model else None,
            "dataset": model.dataset if model else params.get("dataset", "mnist"),
            "scores": metrics or None,
            "score": score_of(metrics, rank_by),
            "wall_s": wall_seconds(job),
        })
    return ranked_within_datasets(rows, lambda row: row["score"], rank_by)


def ranked_within_datasets(
    rows: list[dict[str, Any]], value: Callable[[dict[str, Any]], float | None], rank_by: RankBy
) -> list[dict[str, Any]]:
    """``rows`` with a value, best first within each data set (``rank`` 1, 2, ...; ties keep
    their order), then those without one (``rank`` None)."""
    sign = better_first(rank_by)
    valued = sorted((row for row in rows if value(row) is not None),
                    key=lambda row: (row["dataset"], sign * value(row)))  # type: ignore[operator]
    ranks: dict[str, int] = {}
    for row in valued:
        ranks[row["dataset"]] = ranks.get(row["dataset"], 0) + 1
        row["rank"] = ranks[row["dataset"]]
    rest = [row for row in rows if value(row) is None]
    for row in rest:
        row["rank"] = None
    return valued + rest


def wall_seconds(job: JobRecord | None) -> float | None:
    """How long a finished member took, from its start to its end."""
    if job is None or job.started_at is None or job.finished_at is None:
        return None
    return round(job.finished_at - job.started_at, 1)


def scores_settled(ranked: list[dict[str, Any]], score_samples: int) -> bool:
    """Every member that left a model has its scores (or a scoring error); a finished one's on
    the sweep's ``score_samples``."""
    return all(_settled(row, score_samples) for row in ranked if row["model"] is not None)


def _settled(row: dict[str, Any], score_samples: int) -> bool:
    scores = row["scores"]
    if scores is None:
        return False
    return (row["state"] != "succeeded" or "error" in scores
            or int(scores.get("n") or 0) >= score_samples)


def by_setting(ranked: list[dict[str, Any]], rank_by: RankBy) -> list[dict[str, Any]]:
    """The members grouped by their parameters other than ``seed``, each group's mean and
    worst score over its scored members; ranked by the mean within each data set once every
    member of the group is scored, the others after."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in sorted(ranked, key=lambda row: row["member"]):
        setting = {name: value for name, value in row["params"].items() if name != "seed"}
        groups.setdefault(json.dumps(setting, sort_keys=True), []).append(row)
    sign = better_first(rank_by)
    settings = []
    for key, rows in groups.items():
        scores = [row["score"] for row in rows if row["score"] is not None]
        settings.append({
            "params": json.loads(key), "members": [row["member"] for row in rows],
            "seeds": [row["params"].get("seed") for row in rows], "dataset": rows[0]["dataset"],
            "scored": len(scores),
            "mean": statistics.fmean(scores) if scores else None,
            "worst": max(scores, key=lambda score: sign * score) if scores else None,
        })
    return ranked_within_datasets(
        settings,
        lambda group: group["mean"] if group["scored"] == len(group["members"]) else None,
        rank_by)
