"""One way to start or resume a run: a used folder is refused unless resumed; a resumed run
keeps its architecture, takes only the overrides asked for, or must agree with the config
given."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from shared_models.config import network_configs
from shared_models.training import ResumeMismatch
from shared_models.training.run_folder import RunFolderInUse, plan_run, run
from tests.conftest import TINY_D, TINY_G, tiny_train_config

CPU = torch.device("cpu")


def trained(folder, data, **overrides):
    plan = plan_run(folder, tiny_train_config(**overrides), TINY_G, TINY_D, resume=False)
    return run(plan, data, CPU)


def test_a_fresh_run_in_a_used_folder_is_refused(tmp_path, mnist_small):
    trained(tmp_path, mnist_small, iterations=2)
    with pytest.raises(RunFolderInUse, match="already holds checkpoints"):
        plan_run(tmp_path, tiny_train_config(), TINY_G, TINY_D, resume=False)


def test_resuming_an_empty_folder_starts_afresh(tmp_path):
    plan = plan_run(tmp_path, tiny_train_config(), TINY_G, TINY_D, resume=True)
    assert plan.start is None and plan.generator_config == TINY_G


def test_overrides_change_only_what_they_name_and_the_architecture_is_the_runs(
    tmp_path, mnist_small
):
    trained(tmp_path, mnist_small, iterations=2, seed=5)
    other_generator, other_discriminator = network_configs(True, "small")
    plan = plan_run(tmp_path, tiny_train_config(seed=99), other_generator, other_discriminator,
                    resume=True, overrides={"iterations": 4})
    assert plan.start is not None and plan.start.manifest.step == 2
    assert (plan.config.iterations, plan.config.seed) == (4, 5)
    assert (plan.generator_config, plan.discriminator_config) == (TINY_G, TINY_D)
    assert run(plan, mnist_small, CPU).step == 4


def test_without_overrides_the_given_config_must_agree_with_the_checkpoint(
    tmp_path, mnist_small
):
    trained(tmp_path, mnist_small, iterations=2, seed=5)
    agreeing = plan_run(tmp_path, tiny_train_config(iterations=3, seed=5), TINY_G, TINY_D,
                        resume=True)
    assert run(agreeing, mnist_small, CPU).step == 3
    wider = replace(TINY_G, hidden=64)
    for config, generator in ((tiny_train_config(iterations=4, seed=6), TINY_G),
                              (tiny_train_config(iterations=4, seed=5), wider)):
        plan = plan_run(tmp_path, config, generator, TINY_D, resume=True)
        with pytest.raises(ResumeMismatch):
            run(plan, mnist_small, CPU)
