import math

import pytest

from shared_models.config import (
    FAST_ITERATIONS,
    SLOW_ITERATIONS,
    GeneratorConfig,
    TrainConfig,
    cntk_beta2,
    from_dict,
    to_dict,
    with_overrides,
)


def test_defaults_are_the_tutorials():
    config = TrainConfig()
    assert (config.batch_size, config.lr, config.beta1, config.k, config.g_steps) == (
        128, 2e-4, 0.5, 2, 2,
    )
    assert GeneratorConfig().nz == 100
    assert (FAST_ITERATIONS, SLOW_ITERATIONS) == (5_000, 10_000)
    assert config.iterations == FAST_ITERATIONS
    assert config.log_interval == 200  # num_minibatches // 25 in fast mode


def test_beta2_matches_cntks_variance_time_constant():
    assert cntk_beta2(128) == pytest.approx(0.99982, abs=1e-5)
    assert TrainConfig().adam_beta2 == pytest.approx(math.exp(-128 / 720_000))
    assert TrainConfig(beta2=0.999).adam_beta2 == 0.999


def test_configs_round_trip_through_dicts_and_ignore_unknown_keys():
    config = TrainConfig(iterations=7, seed=3)
    assert from_dict(TrainConfig, {**to_dict(config), "future_field": 1}) == config


def test_overrides_skip_unset_values():
    config = with_overrides(TrainConfig(), iterations=10, batch_size=None)
    assert config.iterations == 10 and config.batch_size == 128


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"iterations": 0}, r"iterations must be in \[1, 100000\]"),
        ({"lr": 0.0}, "lr must be in"),
        ({"beta1": 1.0}, "beta1 must be in"),
        ({"dataset": "cifar"}, "dataset must be one of"),
        ({"checkpoint_every": -1}, r"checkpoint_every must be in \[0"),
    ],
)
def test_bad_train_configs_are_rejected(overrides, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**overrides)
