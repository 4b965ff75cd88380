"""A sweep's members ranked by the score it names: each member's model is its job's final
checkpoint (else its newest), with the figures the workers scored it with. Members are ranked
within their data set (a score means something only against one data set's classifier);
members not scored (yet), or without a model, come after, unranked."""

from __future__ import annotations

from typing import Any

from jobs.job_store import JobRecord
from jobs.sweep_spec import better_first, score_of
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
    rank_by = sweep.spec.get("rank_by", "frechet_distance")
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
    sign = better_first(rank_by)
    scored = sorted((row for row in rows if row["score"] is not None),
                    key=lambda row: (row["dataset"], sign * row["score"], row["member"]))
    ranks: dict[str, int] = {}
    for row in scored:
        ranks[row["dataset"]] = ranks.get(row["dataset"], 0) + 1
        row["rank"] = ranks[row["dataset"]]
    rest = [row for row in rows if row["score"] is None]
    for row in rest:
        row["rank"] = None
    return scored + rest


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
