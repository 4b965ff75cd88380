"""Every job the API admits trains: any spec that validates runs its first iteration (a 202
job must not fail on its own parameters). Each bound's extremes are examples of their own;
the random draws keep to small batches, since an iteration at batch 1,024 with ten
discriminator steps takes seconds. The tutorial's network size is left to the tests that train
it; compiling is left to the equivalence tests (a compile takes most of a minute)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

from jobs.spec import JobSpec
from shared_models.config import MAX_SEED
from shared_models.data import load_dataset
from shared_models.training import Trainer
from tests.conftest import DATA_DIR


def bounded(low: float, high: float, *, open_low: bool = False, open_high: bool = False):
    return st.floats(low, high, exclude_min=open_low, exclude_max=open_high,
                     allow_nan=False, allow_infinity=False)


SPECS = st.fixed_dictionaries(
    {
        "batch_size": st.integers(2, 64),
        "dataset": st.sampled_from(["mnist", "fashion-mnist"]),
        "seed": st.integers(0, MAX_SEED),
        "k": st.integers(1, 10),
        "lr": bounded(0, 0.1, open_low=True),
        "beta1": bounded(0, 1, open_high=True),
        "conditional": st.booleans(),
        "network_size": st.sampled_from(["small", "tiny"]),
        "ema_decay": bounded(0, 1, open_high=True),
        "precision": st.sampled_from(["auto", "float32", "bfloat16"]),
    },
    optional={
        "iterations": st.integers(1, 100_000),
        "checkpoint_every": st.integers(0, 100_000),
    },
)
BASE = {"dataset": "mnist", "network_size": "tiny"}


@pytest.fixture(scope="module")
def data() -> dict:
    return {name: load_dataset(name, DATA_DIR, "train") for name in ("mnist", "fashion-mnist")}


@settings(max_examples=12, deadline=None, derandomize=True, database=None)
@given(body=SPECS)
@example(body={**BASE, "batch_size": 2, "k": 10, "lr": 0.1, "beta1": 0.0, "seed": MAX_SEED,
               "precision": "bfloat16", "conditional": True, "ema_decay": 0.999999})
@example(body={**BASE, "batch_size": 1024, "k": 1, "lr": 1e-12, "ema_decay": 0.0,
               "iterations": 1, "checkpoint_every": 100_000, "dataset": "fashion-mnist"})
def test_every_admitted_spec_trains_its_first_iteration(data, body):
    spec = JobSpec.model_validate(body)  # what POST /jobs admits
    trainer = Trainer(spec.train_config(), *spec.network_configs(), data[spec.dataset],
                      torch.device("cpu"))
    trainer.iteration()
    assert trainer.step == 1 and torch.isfinite(trainer.history[0]).all()
