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
from tests.conftest import TINY_D, TINY_G, tiny_train_config

CPU = torch.device("cpu")


def closed_form(history: list[torch.Tensor], decay: float) -> torch.Tensor:
    """sum_i decay**(t-i) w_i / sum_i decay**(t-i) over the weights seen so far."""
    t = len(history)
    factors = torch.tensor([decay ** (t - 1 - i) for i in range(t)], dtype=torch.float64)
    stacked = torch.stack([w.double() for w in history])
    return (factors.view(-1, *[1] * history[0].dim()) * stacked).sum(0) / factors.sum()


def test_the_average_is_the_bias_corrected_exponential_average_of_every_update():
    network = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    average = WeightAverage(network, decay=0.8)
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


def test_the_first_update_takes_the_weights_as_they_are():
    network = nn.Linear(5, 5)
    average = WeightAverage(network, decay=0.999)
    with torch.no_grad():
        network.weight.add_(1.0)
    average.update(network)
    torch.testing.assert_close(average.weights["weight"], network.weight.detach())


@pytest.mark.parametrize("decay", [0.0, 1.0, -0.5])
def test_a_decay_outside_the_open_unit_interval_is_refused(decay):
    with pytest.raises(ValueError, match="decay must be in"):
        WeightAverage(nn.Linear(2, 2), decay)


def test_train_config_refuses_a_decay_of_one_or_more():
    with pytest.raises(ValueError, match="ema_decay must be in"):
        TrainConfig(ema_decay=1.0)


def make_trainer(data, **overrides):
    return Trainer(tiny_train_config(**overrides), TINY_G, TINY_D, data, CPU)


def test_averaging_leaves_training_itself_untouched(mnist_small):
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
        expected = closed_form([h[name] for h in history], 0.9).float()
        torch.testing.assert_close(averaged.average.weights[name], expected)
        assert not torch.equal(averaged.average.weights[name], history[-1][name])


def test_checkpoints_serve_the_average_and_keep_the_live_weights(tmp_path, mnist_small):
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


def test_stop_and_resume_continues_the_average_exactly(tmp_path, mnist_small):
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
