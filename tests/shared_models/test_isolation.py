"""Each training step updates only the network it trains."""

import torch

from shared_models.training import Trainer
from tests.conftest import TINY_D, TINY_G, tiny_train_config


def snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: value.detach().clone() for name, value in module.state_dict().items()}


def changed(before: dict[str, torch.Tensor], module: torch.nn.Module) -> set[str]:
    after = module.state_dict()
    return {name for name, value in before.items() if not torch.equal(value, after[name])}


def make_trainer(mnist_small) -> Trainer:
    return Trainer(tiny_train_config(), TINY_G, TINY_D, mnist_small, torch.device("cpu"))


def test_discriminator_step_leaves_generator_weights_and_bn_stats_unchanged(mnist_small):
    trainer = make_trainer(mnist_small)
    generator_before = snapshot(trainer.generator)
    discriminator_before = snapshot(trainer.discriminator)
    trainer.discriminator_step()
    assert changed(generator_before, trainer.generator) == set()
    moved = changed(discriminator_before, trainer.discriminator)
    assert "fc1.weight" in moved and "bn1.running_mean" in moved  # D did train


def test_generator_step_leaves_discriminator_unchanged(mnist_small):
    trainer = make_trainer(mnist_small)
    trainer.discriminator_step()  # give D non-trivial Adam state first
    discriminator_before = snapshot(trainer.discriminator)
    grads_before = [p.grad.clone() for p in trainer.discriminator.parameters()]
    generator_before = snapshot(trainer.generator)
    trainer.generator_step(trainer.noise(), None)
    assert changed(discriminator_before, trainer.discriminator) == set()
    grads_after = [p.grad for p in trainer.discriminator.parameters()]
    assert all(torch.equal(a, b) for a, b in zip(grads_before, grads_after, strict=True))
    moved = changed(generator_before, trainer.generator)
    assert "fc1.weight" in moved and "bn3.running_mean" in moved  # G did train


def test_networks_are_left_trainable_after_each_step(mnist_small):
    trainer = make_trainer(mnist_small)
    trainer.iteration()
    for model in (trainer.generator, trainer.discriminator):
        assert all(p.requires_grad for p in model.parameters())
        assert all(
            m.track_running_stats for m in model.modules() if hasattr(m, "track_running_stats")
        )


def test_an_iteration_runs_k_discriminator_and_g_steps_generator_updates(mnist_small):
    trainer = Trainer(
        tiny_train_config(k=3, g_steps=2), TINY_G, TINY_D, mnist_small, torch.device("cpu")
    )
    trainer.iteration()
    d_state = trainer.d_optimizer.state[trainer.discriminator.fc1.weight]
    g_state = trainer.g_optimizer.state[trainer.generator.fc1.weight]
    assert int(d_state["step"]) == 3
    assert int(g_state["step"]) == 2
    assert trainer.step == 1 and torch.isfinite(trainer.history[0]).all()
