"""The generator's weight average: its arithmetic, its place in training and in checkpoints."""

import pytest
import torch
from torch import nn

from shared_models.checkpoint import iter_manifests, load_checkpoint, newest_checkpoint
from shared_models.config import TrainConfig
from shared_models.generator_io import generator_from_state
from shared_models.training import TrainHooks, train
from shared_models.training.averaging import WeightAverage
from shared_models.training.trainer import Trainer
from shared_models.weight_average import WINDOW_RAMP, describe_average, step_size
from tests.conftest import TINY_D, TINY_G, tiny_train_config

CPU = torch.device("cpu")


def closed_form(history: list[torch.Tensor], decay: float) -> torch.Tensor:
    """sum_i decay**(t-i) w_i / sum_i decay**(t-i) over the weights seen so far."""
    t = len(history)
    factors = torch.tensor([decay ** (t - 1 - i) for i in range(t)], dtype=torch.float64)
    stacked = torch.stack([w.double() for w in history])
    return (factors.view(-1, *[1] * history[0].dim()) * stacked).sum(0) / factors.sum()


def windowed_form(history: list[torch.Tensor], decay: float, ramp: int) -> torch.Tensor:
    """sum_i a_i prod_{j>i} (1 - a_j) w_i, a_j = min(1, max(1 - decay, ramp / j**2)): what each
    update's weights count for at the end, written out as a sum."""
    t = len(history)
    steps = [min(1.0, max(1 - decay, ramp / j**2)) for j in range(1, t + 1)]
    factors = []
    for i in range(t):
        kept = 1.0
        for later in steps[i + 1:]:
            kept *= 1 - later
        factors.append(steps[i] * kept)
    weights = torch.tensor(factors, dtype=torch.float64)
    stacked = torch.stack([w.double() for w in history])
    return (weights.view(-1, *[1] * history[0].dim()) * stacked).sum(0)


def test_an_old_average_is_the_bias_corrected_exponential_average_of_every_update():
    network = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    average = WeightAverage(network, decay=0.8, window_ramp=0)
    seen: dict[str, list[torch.Tensor]] = {"0.weight": [], "1.running_mean": []}
    gen = torch.Generator().manual_seed(0)
    for _ in range(6):
        with torch.no_grad():
            network[0].weight.copy_(torch.randn(4, 3, generator=gen))
        network.train()(torch.randn(8, 3, generator=gen))  # moves the running statistics
        average.update(network)
        for name in seen:
            seen[name].append(network.state_dict()[name].clone())
        for name, history in seen.items():
            expected = closed_form(history, 0.8).float()
            torch.testing.assert_close(average.weights[name], expected)
    assert average.updates == 6
    # integer buffers are counts, not weights: copied, not averaged
    assert int(average.weights["1.num_batches_tracked"]) == 6


def test_the_average_is_the_live_weights_until_its_window_opens_then_a_widening_average():
    network = nn.Linear(3, 4)
    average = WeightAverage(network, decay=0.9, window_ramp=16)  # opens after t = 4
    history = []
    gen = torch.Generator().manual_seed(0)
    for t in range(1, 41):
        with torch.no_grad():
            network.weight.copy_(torch.randn(4, 3, generator=gen))
        average.update(network)
        history.append(network.weight.detach().clone())
        if t <= 4:
            assert torch.equal(average.weights["weight"], network.weight)
        elif t in (5, 8, 12, 13, 40):
            expected = windowed_form(history, 0.9, 16).float()
            torch.testing.assert_close(average.weights["weight"], expected)
    # past the cap (16 / t**2 < 0.1 from t = 13) it is a plain moving average
    before = average.weights["weight"].clone()
    with torch.no_grad():
        network.weight.add_(1.0)
    average.update(network)
    torch.testing.assert_close(average.weights["weight"], 0.9 * before + 0.1 * network.weight)


@pytest.mark.parametrize("ramp", [0, WINDOW_RAMP])
def test_the_first_update_takes_the_weights_as_they_are(ramp):
    network = nn.Linear(5, 5)
    average = WeightAverage(network, decay=0.999, window_ramp=ramp)
    with torch.no_grad():
        network.weight.add_(1.0)
    average.update(network)
    torch.testing.assert_close(average.weights["weight"], network.weight.detach())


@pytest.mark.parametrize(("iterations", "window"), [
    (100, 1), (500, 10), (1000, 40), (2000, 160), (5000, 1000), (20_000, 1000),
])
def test_the_window_is_a_share_of_the_run_that_grows_with_it_up_to_the_cap(iterations, window):
    assert 1 / step_size(0.999, iterations, WINDOW_RAMP) == pytest.approx(window)


def test_the_served_weights_are_described_in_words():
    text = describe_average({"decay": 0.999, "updates": 1000, "window_ramp": WINDOW_RAMP})
    assert "ema_decay 0.999" in text and "last 40 of 1,000 iterations" in text
    assert "up to 1,000 iterations" in text
    early = describe_average({"decay": 0.999, "updates": 100, "window_ramp": WINDOW_RAMP})
    assert "the live weights so far" in early and "opens at about 158" in early
    assert "constant" in describe_average({"decay": 0.999, "updates": 1000})
    assert "live weights" in describe_average(None)


def test_an_average_saved_before_the_window_grew_goes_on_with_a_constant_decay():
    network = nn.Linear(3, 4)
    old = WeightAverage(network, decay=0.8, window_ramp=0)
    old.update(network)
    state = old.state_dict()
    del state["window_ramp"]  # as checkpoints written before it hold the average
    resumed = WeightAverage(network, decay=0.8)
    resumed.load_state_dict(state)
    assert resumed.window_ramp == 0 and resumed.step_size() == old.step_size()


@pytest.mark.parametrize("decay", [0.0, 1.0, -0.5])
def test_a_decay_outside_the_open_unit_interval_is_refused(decay):
    with pytest.raises(ValueError, match="decay must be in"):
        WeightAverage(nn.Linear(2, 2), decay)


def test_train_config_refuses_a_decay_of_one_or_more():
    with pytest.raises(ValueError, match="ema_decay must be in"):
        TrainConfig(ema_decay=1.0)


def make_trainer(data, **overrides):
    return Trainer(tiny_train_config(**overrides), TINY_G, TINY_D, data, CPU)


def test_averaging_leaves_training_itself_untouched(mnist_small, short_average_window):
    plain, averaged = make_trainer(mnist_small), make_trainer(mnist_small, ema_decay=0.9)
    history = []
    for _ in range(4):
        plain.iteration()
        averaged.iteration()
        history.append({k: v.clone() for k, v in averaged.generator.state_dict().items()})
    for network in ("generator", "discriminator"):
        expected = getattr(plain, network).state_dict()
        for name, value in getattr(averaged, network).state_dict().items():
            assert torch.equal(value, expected[name]), f"{network}.{name}"
    assert torch.equal(plain.history, averaged.history)
    # and the average follows the generator, one update per iteration
    assert averaged.average is not None and averaged.average.updates == 4
    for name in ("fc2.weight", "deconv1.weight", "bn3.running_var"):
        expected = windowed_form([h[name] for h in history], 0.9, short_average_window).float()
        torch.testing.assert_close(averaged.average.weights[name], expected)
        assert not torch.equal(averaged.average.weights[name], history[-1][name])


def test_checkpoints_serve_the_average_and_keep_the_live_weights(
    tmp_path, mnist_small, short_average_window
):
    config = tiny_train_config(iterations=5, ema_decay=0.9)
    result = train(config, mnist_small, tmp_path, generator_config=TINY_G,
                   discriminator_config=TINY_D, device=CPU)
    state, _ = load_checkpoint(result.checkpoint)
    assert state["generator_average"]["updates"] == 5
    served = generator_from_state(state)
    live = generator_from_state(state, averaged=False)
    z = torch.rand(4, TINY_G.nz) * 2 - 1
    with torch.no_grad():
        assert not torch.allclose(served(z), live(z))
    for name, value in served.state_dict().items():
        assert torch.equal(value, state["generator_average"]["weights"][name].contiguous())
        assert torch.equal(live.state_dict()[name], state["generator"][name].contiguous())


def test_a_checkpoint_without_an_average_serves_its_live_weights(tmp_path, mnist_small):
    result = train(tiny_train_config(iterations=2), mnist_small, tmp_path,
                   generator_config=TINY_G, discriminator_config=TINY_D, device=CPU)
    state, _ = load_checkpoint(result.checkpoint)
    assert "generator_average" not in state
    for name, value in generator_from_state(state).state_dict().items():
        assert torch.equal(value, state["generator"][name].contiguous())


def test_stop_and_resume_continues_the_average_exactly(
    tmp_path, mnist_small, short_average_window
):
    config = tiny_train_config(iterations=6, checkpoint_every=2, ema_decay=0.9)

    def run(run_dir, **kwargs):
        return train(config, mnist_small, run_dir, generator_config=TINY_G,
                     discriminator_config=TINY_D, device=CPU, **kwargs)

    straight = run(tmp_path / "straight")
    reported = {"step": 0}
    first = run(
        tmp_path / "resumed",
        hooks=TrainHooks(
            should_stop=lambda: reported["step"] >= 3,
            on_progress=lambda p: reported.update(step=p.step),
            progress_every_s=0.0,
        ),
    )
    assert first.stopped
    second = run(tmp_path / "resumed", start=newest_checkpoint(tmp_path / "resumed"))
    assert second.step == 6
    expected = load_checkpoint(straight.checkpoint)[0]["generator_average"]
    actual = load_checkpoint(second.checkpoint)[0]["generator_average"]
    assert actual["updates"] == expected["updates"] == 6
    for name, value in expected["weights"].items():
        assert torch.equal(actual["weights"][name], value), name
    assert [m.step for m in iter_manifests(tmp_path / "resumed") if m.final] == [6]


def test_a_run_begun_before_the_window_grew_resumes_and_serves_as_it_did(tmp_path, mnist_small):
    """A checkpoint whose average has no window ramp (written before it existed) goes on with
    the constant decay, exactly as the run would have without stopping."""
    config = tiny_train_config(iterations=6, ema_decay=0.9)
    straight = make_trainer(mnist_small, iterations=6, ema_decay=0.9)
    halfway = make_trainer(mnist_small, iterations=6, ema_decay=0.9)
    for trainer in (straight, halfway):
        trainer.average.window_ramp = 0  # the schedule before the window grew
    for _ in range(6):
        straight.iteration()
    for _ in range(3):
        halfway.iteration()
    state = halfway.state_dict()
    del state["generator_average"]["window_ramp"]
    resumed = Trainer.from_state(state, mnist_small, CPU, config)
    for _ in range(3):
        resumed.iteration()
    for name, value in straight.average.weights.items():
        assert torch.equal(resumed.average.weights[name], value), name
    assert "constant" in describe_average(resumed.state_dict()["generator_average"])
