from dataclasses import replace

import pytest
import torch

from jobs.spec import JobSpec
from shared_models.checkpoint import (
    checkpoint_path,
    iter_manifests,
    newest_checkpoint,
    save_checkpoint,
)
from shared_models.training import ResumeMismatch, TrainHooks, train
from tests.conftest import TINY_D, TINY_G, tiny_train_config

CPU = torch.device("cpu")


def run(config, data, run_dir, resume=False, **kwargs):
    """Train; ``resume`` starts from the run's newest checkpoint, as the CLI and worker do."""
    return train(
        config, data, run_dir, generator_config=TINY_G, discriminator_config=TINY_D, device=CPU,
        start=newest_checkpoint(run_dir) if resume else None, **kwargs,
    )


def final_state(run_dir):
    [final] = [m for m in iter_manifests(run_dir) if m.final]
    return torch.load(final.path, weights_only=True)


def test_stop_and_resume_is_bit_identical_to_an_uninterrupted_run(tmp_path, mnist_small):
    config = tiny_train_config(iterations=8, checkpoint_every=3)
    straight = run(config, mnist_small, tmp_path / "straight")
    assert straight.step == 8 and not straight.stopped

    stop_at = {"step": 5}
    state = {"step": 0}
    hooks = TrainHooks(
        should_stop=lambda: state["step"] >= stop_at["step"],
        on_progress=lambda p: state.update(step=p.step),
        progress_every_s=0.0,
    )
    first = run(config, mnist_small, tmp_path / "resumed", hooks=hooks)
    assert first.stopped and first.step == 5
    assert not any(m.final for m in iter_manifests(tmp_path / "resumed"))
    second = run(config, mnist_small, tmp_path / "resumed", resume=True)
    assert second.step == 8 and not second.stopped

    expected, actual = final_state(tmp_path / "straight"), final_state(tmp_path / "resumed")
    for network in ("generator", "discriminator"):
        for name, value in expected[network].items():
            assert torch.equal(actual[network][name], value), f"{network}.{name} differs"
    assert torch.equal(actual["loss_history"], expected["loss_history"])


def test_resuming_a_finished_run_trains_nothing_and_keeps_one_final_model(tmp_path, mnist_small):
    config = tiny_train_config(iterations=3)
    first = run(config, mnist_small, tmp_path)
    again = run(config, mnist_small, tmp_path, resume=True)
    assert again.checkpoint == first.checkpoint and again.seconds == 0.0
    assert [m.step for m in iter_manifests(tmp_path) if m.final] == [3]


def test_resume_refuses_a_different_configuration(tmp_path, mnist_small):
    run(tiny_train_config(iterations=3), mnist_small, tmp_path)
    with pytest.raises(ResumeMismatch, match="batch_size: checkpoint 16, requested 8"):
        run(tiny_train_config(iterations=6, batch_size=8), mnist_small, tmp_path, resume=True)


def test_resume_can_extend_the_number_of_iterations(tmp_path, mnist_small):
    run(tiny_train_config(iterations=3), mnist_small, tmp_path)
    result = run(tiny_train_config(iterations=5), mnist_small, tmp_path, resume=True)
    assert result.step == 5
    finals = [m for m in iter_manifests(tmp_path) if m.final]
    assert [m.step for m in finals] == [3, 5]
    history = torch.load(finals[-1].path, weights_only=True)["loss_history"]
    assert history.shape == (5, 2) and torch.all(history[3:] != 0)


def test_a_checkpoint_keeps_only_the_randomness_resuming_needs(tmp_path, mnist_small):
    """No global CPU or CUDA generator states: a run resumed where other GPUs (or none) are
    visible must not try to restore them; older checkpoints that hold them still resume."""
    config = tiny_train_config(iterations=4, checkpoint_every=2)
    run(config, mnist_small, tmp_path, hooks=TrainHooks(should_stop=lambda: False))
    [first, _] = sorted(iter_manifests(tmp_path), key=lambda m: m.step)
    state = torch.load(first.path, weights_only=True)
    assert set(state["rng"]) == {"trainer"}

    older = tmp_path / "older"
    state["rng"]["torch_cuda"] = [torch.zeros(16, dtype=torch.uint8)] * 8  # eight GPUs' states
    save_checkpoint({**state, "step": 2}, checkpoint_path(older, 2))
    resumed = run(config, mnist_small, older, resume=True)
    assert resumed.step == 4 and not resumed.stopped


def test_a_run_records_each_sessions_setup(tmp_path, mnist_small):
    config = tiny_train_config(iterations=6)
    stop = {"at": 3}
    run(config, mnist_small, tmp_path, hooks=TrainHooks(
        should_stop=lambda: stop["at"] == 0 or bool(stop.update(at=stop["at"] - 1)),
    ))
    stop["at"] = -1
    run(replace(config, precision="float32"), mnist_small, tmp_path, resume=True)
    [final] = [m for m in iter_manifests(tmp_path) if m.final]
    segments = torch.load(final.path, weights_only=True)["segments"]
    assert [(s["from_step"], s["device"], s["precision"], s["asked_precision"])
            for s in segments] == [(0, "cpu", "float32", "auto"), (3, "cpu", "float32", "float32")]


def test_a_conditional_run_begun_before_the_label_maps_and_projection_resumes_as_it_began(
    tmp_path, mnist_small
):
    """Conditional jobs now train with the generator's label maps and the discriminator's
    projection head; a run begun without them resumes without them (they are no setting of a
    run), while a real change of architecture is still refused."""
    job_generator, job_discriminator = JobSpec(iterations=4, conditional=True).network_configs()
    assert job_generator.label_maps and job_discriminator.projection
    new_g = replace(TINY_G, num_classes=10, label_maps=True)
    new_d = replace(TINY_D, num_classes=10, projection=True)
    old_g, old_d = replace(new_g, label_maps=False), replace(new_d, projection=False)
    config = tiny_train_config(iterations=4, checkpoint_every=2)
    train(config, mnist_small, tmp_path, generator_config=old_g, discriminator_config=old_d,
          device=CPU, hooks=TrainHooks(should_stop=lambda: False))
    [older, _] = sorted(iter_manifests(tmp_path), key=lambda m: m.step)
    state = torch.load(older.path, weights_only=True)
    del state["generator_config"]["label_maps"]  # as checkpoints before them have it
    del state["discriminator_config"]["projection"]
    save_checkpoint(state, checkpoint_path(tmp_path / "older", older.step))

    def resume(generator_config, discriminator_config):
        return train(config, mnist_small, tmp_path / "older", generator_config=generator_config,
                     discriminator_config=discriminator_config, device=CPU,
                     start=newest_checkpoint(tmp_path / "older"))

    resumed = resume(new_g, new_d)
    assert resumed.step == 4
    final = torch.load(resumed.checkpoint, weights_only=True)
    assert not final["generator_config"]["label_maps"]
    assert not final["discriminator_config"]["projection"]
    assert not any(name.startswith("label_maps") for name in final["generator"])
    assert not any(name.startswith("project") for name in final["discriminator"])
    with pytest.raises(ResumeMismatch, match="generator architecture"):
        resume(replace(new_g, hidden=16), new_d)
    with pytest.raises(ResumeMismatch, match="discriminator architecture"):
        resume(new_g, replace(new_d, hidden=16))
