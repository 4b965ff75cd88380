"""The scorer outlives whatever a stored model holds: a model it cannot read is recorded as
not scored, with the reason and no server path, and the next one is scored as usual."""

from __future__ import annotations

import json

from core.settings import Settings
from jobs.bootstrap import prepare_shared_state
from shared_models.serving_artifact import CONFIG_FILE
from tests.conftest import TINY_D, TINY_G, tiny_train_config
from worker.checkpoint_scores import CheckpointScorer
from worker.published_run import train_published


def test_a_model_that_cannot_be_read_is_recorded_and_the_next_is_scored(
    tmp_path, data_dir, mnist_small
):
    settings = Settings(DCGAN_DATA_DIR=data_dir, DCGAN_RUNS_DIR=tmp_path / "runs",
                        DCGAN_EVAL_SAMPLES=50)
    prepare_shared_state(settings)
    for name in ("bad", "good"):
        train_published(settings, name, tiny_train_config(iterations=2), mnist_small,
                        TINY_G, TINY_D)
    config = settings.runs_dir / "bad" / "models" / "step_0000002" / CONFIG_FILE
    config.write_text(json.dumps({**json.loads(config.read_text()), "architecture": []}))
    scorer = CheckpointScorer(settings)
    try:
        failed = scorer.score("bad", "bad:2")
        scored = scorer.score("good", "good:2")
    finally:
        scorer.close()
    assert failed is not None and set(failed) == {"error"} and failed["error"]
    assert str(tmp_path) not in failed["error"]
    assert scored is not None and scored["n"] == 50 and scored["frechet_distance"] > 0
    assert scorer.models.get("bad:2").metrics == failed
