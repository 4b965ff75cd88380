"""A sweep member's final model is scored on its sweep's ``score_samples``; every other
checkpoint on the workers' DCGAN_EVAL_SAMPLES."""

from __future__ import annotations

from core.database import make_engine
from core.settings import Settings
from jobs.bootstrap import prepare_shared_state
from jobs.job_store import JobStore
from jobs.sweeps import SweepStore, member_id
from tests.conftest import TINY_D, TINY_G, tiny_train_config
from worker.checkpoint_scores import CheckpointScorer
from worker.published_run import train_published


def test_a_members_final_model_is_scored_on_its_sweeps_samples(tmp_path, data_dir, mnist_small):
    settings = Settings(DCGAN_DATA_DIR=data_dir, DCGAN_RUNS_DIR=tmp_path / "runs",
                        DCGAN_EVAL_SAMPLES=50)
    prepare_shared_state(settings)
    engine = make_engine(settings.database_url)
    jobs = JobStore(engine)
    sweep = SweepStore(engine, jobs).create({"score_samples": 120}, [{"iterations": 2}])
    member = jobs.submit({"iterations": 2}, 2, "q", 10, job_id=member_id(sweep.id, 0),
                         sweep_id=sweep.id).id
    alone = jobs.submit({"iterations": 2}, 2, "q", 10).id
    for job in (member, alone):
        train_published(settings, job, tiny_train_config(iterations=2, checkpoint_every=1),
                        mnist_small, TINY_G, TINY_D)
    scorer = CheckpointScorer(settings)
    try:
        figures = {model: scorer.score(job, model)
                   for job in (member, alone) for model in (f"{job}:1", f"{job}:2")}
    finally:
        scorer.close()
        engine.dispose()
    samples = {model: scores["n"] for model, scores in figures.items() if scores}
    assert samples == {f"{member}:1": 50, f"{member}:2": 120, f"{alone}:1": 50, f"{alone}:2": 50}
