import errno
import hashlib
import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable

import pytest
import torch

from dcgan_cli.waiting import wait_for
from shared_models.checkpoint import (
    CheckpointError,
    atomic_write,
    checkpoint_path,
    load_checkpoint,
    manifest_path,
    newest_checkpoint,
    prune_checkpoints,
    remove_stale_temp_files,
    save_checkpoint,
)
from shared_models.generator_io import load_generator
from shared_models.training import Trainer
from tests.conftest import REPO, TINY_D, TINY_G, tiny_train_config


@pytest.fixture
def trainer(mnist_small) -> Trainer:
    trainer = Trainer(tiny_train_config(), TINY_G, TINY_D, mnist_small, torch.device("cpu"))
    trainer.iteration()
    return trainer


def test_round_trip_keeps_everything_the_run_needs(tmp_path, trainer):
    path = checkpoint_path(tmp_path, trainer.step)
    manifest = save_checkpoint(trainer.state_dict(), path)
    state, loaded = load_checkpoint(path)
    assert loaded.sha256 == manifest.sha256 and loaded.step == 1 and loaded.dataset == "mnist"
    assert set(state) >= {
        "generator_config", "discriminator_config", "train_config", "generator", "discriminator",
        "g_optimizer", "d_optimizer", "step", "rng", "dataset", "loss_history", "data_order",
    }
    for name, value in trainer.generator.state_dict().items():
        assert torch.equal(state["generator"][name], value)
    assert torch.equal(state["loss_history"], trainer.history[:1])
    assert torch.equal(state["rng"]["trainer"], trainer.rng.get_state())
    generator, _ = load_generator(path)
    assert generator.config == TINY_G and not generator.training


def test_a_file_that_does_not_match_its_manifest_is_refused(tmp_path, trainer):
    previous = save_checkpoint(trainer.state_dict(), checkpoint_path(tmp_path, 1))
    path = checkpoint_path(tmp_path, 2)
    save_checkpoint({**trainer.state_dict(), "step": 2}, path)
    payload = bytearray(path.read_bytes())
    payload[len(payload) // 2] ^= 0xFF
    path.write_bytes(bytes(payload))
    with pytest.raises(CheckpointError, match="do not match its manifest"):
        load_checkpoint(path)
    newest = newest_checkpoint(tmp_path)  # the damaged newer one is skipped
    assert newest is not None and newest.manifest.sha256 == previous.sha256
    assert newest.state["step"] == 1


def test_a_checkpoint_without_manifest_is_incomplete(tmp_path, trainer):
    path = checkpoint_path(tmp_path, 1)
    save_checkpoint(trainer.state_dict(), path)
    manifest_path(path).unlink()
    with pytest.raises(CheckpointError, match="no manifest"):
        load_checkpoint(path)
    assert newest_checkpoint(tmp_path) is None


def test_loading_is_weights_only_even_when_the_hash_matches(tmp_path):
    class Payload:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    path = checkpoint_path(tmp_path, 1)
    path.parent.mkdir(parents=True)
    payload = pickle.dumps({"format": 1, "step": 1, "x": Payload()})
    atomic_write(path, payload)
    manifest = {
        "sha256": hashlib.sha256(payload).hexdigest(), "size": len(payload),
        "step": 1, "iterations": 1, "dataset": "mnist", "final": True, "created_at": 0.0,
    }
    manifest_path(path).write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match="cannot load"):
        load_checkpoint(path)


def test_a_failed_write_leaves_the_previous_checkpoint_intact(tmp_path, trainer, monkeypatch):
    first = save_checkpoint(trainer.state_dict(), checkpoint_path(tmp_path, 1))
    trainer.iteration()

    def disk_full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left"):
        save_checkpoint(trainer.state_dict(), checkpoint_path(tmp_path, 2))
    monkeypatch.undo()
    folder = tmp_path / "checkpoints"
    assert sorted(p.name for p in folder.iterdir()) == ["step_0000001.json", "step_0000001.pt"]
    newest = newest_checkpoint(tmp_path)
    assert newest is not None and newest.manifest.sha256 == first.sha256


CRASHING_WRITER = textwrap.dedent(
    """
    import os, sys, time, torch
    from pathlib import Path
    from shared_models import checkpoint

    run_dir, marker = Path(sys.argv[1]), Path(sys.argv[2])
    real_fsync = os.fsync
    def slow_fsync(fd):
        writing_checkpoint = ".pt.tmp-" in os.readlink(f"/proc/self/fd/{fd}")
        if writing_checkpoint and marker.exists():  # the parent is ready: hang mid-write
            marker.write_text("writing")
            time.sleep(60)
        real_fsync(fd)
    os.fsync = slow_fsync
    weights = torch.randn(2_000_000)
    for step in range(1, 100):
        state = {"format": 1, "step": step, "dataset": "mnist", "weights": weights + step,
                 "train_config": {"iterations": 100}, "generator_config": {}}
        checkpoint.save_checkpoint(state, checkpoint.checkpoint_path(run_dir, step))
    """
)


def test_sigkill_while_writing_never_damages_the_previous_checkpoint(tmp_path):
    marker = tmp_path / "marker"
    run_dir = tmp_path / "run"
    child = subprocess.Popen(
        [sys.executable, "-c", CRASHING_WRITER, str(run_dir), str(marker)], cwd=REPO
    )
    try:
        def alive(condition: Callable[[], bool]) -> Callable[[], bool]:
            def check() -> bool:
                assert child.poll() is None, "the writer exited"
                return condition()

            return check

        wait_for(alive(lambda: (found := newest_checkpoint(run_dir)) is not None
                       and found.manifest.step >= 2), 60, "the second checkpoint")
        marker.write_text("go")
        wait_for(alive(lambda: marker.read_text() == "writing"), 60,
                 "the writer to be mid-write", interval=0.01)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    leftovers = list((run_dir / "checkpoints").glob(".*.tmp-*"))
    assert leftovers, "the writer should have died mid-write"
    newest = newest_checkpoint(run_dir)
    assert newest is not None
    state, manifest = newest.state, newest.manifest
    assert state["weights"].shape == (2_000_000,)
    assert manifest.step == state["step"] >= 2
    remove_stale_temp_files(run_dir)
    assert not list((run_dir / "checkpoints").glob(".*.tmp-*"))


def test_prune_keeps_the_newest_rolling_checkpoints_and_every_final(tmp_path, trainer):
    state = trainer.state_dict()
    for step in (1, 2, 3, 4):
        save_checkpoint({**state, "step": step}, checkpoint_path(tmp_path, step), final=step == 1)
    prune_checkpoints(tmp_path, keep=2)
    names = sorted(p.name for p in (tmp_path / "checkpoints").glob("*.pt"))
    assert names == ["step_0000001.pt", "step_0000003.pt", "step_0000004.pt"]
