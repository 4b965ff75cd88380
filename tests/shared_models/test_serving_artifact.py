"""The serving artifact samples exactly like the checkpoint it came from, and refuses bad files."""

import hashlib
import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.numpy import load_file as load_numpy

from shared_models.checkpoint import load_checkpoint
from shared_models.generator_io import generator_from_state
from shared_models.grids import grid_png
from shared_models.sampling import generate, grid_inputs
from shared_models.serving_artifact import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    ArtifactError,
    ArtifactInfo,
    load_serving_generator,
    read_serving_artifact,
    write_serving_artifact,
)
from shared_models.training import train
from tests.conftest import TINY_D, TINY_G, short_window, tiny_train_config
from tests.support.sampling import block_floats

RUNS = {
    "plain": ({}, 0),
    "conditional": ({}, 10),
    "averaged": ({"ema_decay": 0.9}, 0),
}


def tiny_run(run_dir: Path, data, name: str) -> tuple[dict, str]:
    """A real tiny training run: its final checkpoint's state and SHA-256."""
    overrides, classes = RUNS[name]
    with short_window():  # an average that differs from the live weights in 3 iterations
        result = train(
            tiny_train_config(iterations=3, **overrides), data, run_dir,
            generator_config=replace(TINY_G, num_classes=classes),
            discriminator_config=replace(TINY_D, num_classes=classes),
            device=torch.device("cpu"),
        )
    assert result.checkpoint is not None
    state, manifest = load_checkpoint(result.checkpoint)
    return state, manifest.sha256


@pytest.fixture(scope="module", params=list(RUNS))
def run(request, mnist_small, tmp_path_factory) -> tuple[str, dict, str]:
    state, sha256 = tiny_run(tmp_path_factory.mktemp(request.param), mnist_small, request.param)
    return request.param, state, sha256


@pytest.fixture
def artifact(tmp_path, run) -> Path:
    _, state, sha256 = run
    folder = tmp_path / "models" / "step_0000003"
    write_serving_artifact(state, folder, sha256)
    return folder


@pytest.mark.parametrize("fast_layers", [True, False])
def test_the_artifact_draws_the_checkpoints_images_bit_for_bit(run, artifact, fast_layers):
    name, state, _ = run
    from_checkpoint = generator_from_state(state, fast_layers=fast_layers)
    from_artifact, info = load_serving_generator(artifact, fast_layers=fast_layers)
    assert not from_artifact.training and from_artifact.config == from_checkpoint.config
    inputs = grid_inputs(from_checkpoint, 40, seed=7)
    floats = block_floats(from_checkpoint, inputs)
    assert torch.equal(block_floats(from_artifact, inputs), floats)
    assert float(floats.std()) > 0  # pixels that differ, so other weights would show
    expected = generate(from_checkpoint, inputs)
    assert torch.equal(generate(from_artifact, inputs), expected)
    grid = grid_inputs(from_checkpoint, 64, seed=3)
    assert grid_png(generate(from_artifact, grid)) == grid_png(generate(from_checkpoint, grid))
    if name == "averaged":  # the live weights draw other pixels: the comparison can fail
        live = generator_from_state(state, averaged=False, fast_layers=fast_layers)
        assert not torch.equal(block_floats(live, inputs), floats)


def test_the_config_describes_the_run_and_identifies_the_weights(run, artifact):
    name, state, source = run
    weights, info = read_serving_artifact(artifact)
    payload = (artifact / WEIGHTS_FILE).read_bytes()
    assert info.sha256 == hashlib.sha256(payload).hexdigest() and info.size == len(payload)
    assert info.source_sha256 == source and info.step == 3 and info.dataset == "mnist"
    assert info.architecture == state["generator_config"]
    assert info.train_config == state["train_config"]
    assert info.conditional == (name == "conditional")
    assert info.averaged == (name == "averaged")
    assert info.ema_decay == (0.9 if name == "averaged" else 0.0)
    expected = (
        "the weight average (ema_decay 0.9) over about the last 2 of 3 iterations"
        if name == "averaged" else "the live weights: the run keeps no weight average"
    )
    assert info.served_weights.startswith(expected)
    config = json.loads((artifact / CONFIG_FILE).read_text())
    assert config["served_weights"] == info.served_weights
    assert config["format"] == 1 and config["sha256"] == info.sha256
    assert "metrics" not in config and "fid" not in json.dumps(config).lower()


def test_the_weights_are_the_ones_sampling_uses(run, artifact):
    name, state, _ = run
    weights, _ = read_serving_artifact(artifact)
    sampled = state["generator_average"]["weights"] if name == "averaged" else state["generator"]
    assert set(weights) == set(sampled)
    for key, tensor in sampled.items():
        assert torch.equal(weights[key], tensor), key
    if name == "averaged":  # the average is not the live weights: the test can tell them apart
        live = state["generator"]
        assert any(not torch.equal(live[key], sampled[key]) for key in sampled)


def test_the_files_are_safetensors_and_json_without_pickle(artifact):
    arrays = load_numpy(str(artifact / WEIGHTS_FILE))  # numpy alone reads the weights
    assert "fc1.weight" in arrays
    header = (artifact / WEIGHTS_FILE).read_bytes()
    length = int.from_bytes(header[:8], "little")
    json.loads(header[8 : 8 + length])  # safetensors: a JSON header, then raw tensor bytes
    assert b"\x80\x04" not in header[:2]  # not a pickle stream


@pytest.fixture
def plain_artifact(tmp_path, mnist_small) -> Path:
    state, sha256 = tiny_run(tmp_path / "run", mnist_small, "plain")
    folder = tmp_path / "artifact"
    write_serving_artifact(state, folder, sha256)
    return folder


def rewrite_config(folder: Path, **changes) -> None:
    config = json.loads((folder / CONFIG_FILE).read_text())
    (folder / CONFIG_FILE).write_text(json.dumps({**config, **changes}))


def test_corrupt_or_truncated_weights_are_refused(plain_artifact):
    weights = plain_artifact / WEIGHTS_FILE
    original = weights.read_bytes()
    flipped = bytearray(original)
    flipped[len(flipped) // 2] ^= 0x01
    for damaged in (bytes(flipped), original[: len(original) // 2]):
        weights.write_bytes(damaged)
        with pytest.raises(ArtifactError, match="do not match its manifest") as error:
            load_serving_generator(plain_artifact)
        assert str(weights) in str(error.value)


def test_an_expected_hash_that_differs_is_refused(plain_artifact):
    _, info = read_serving_artifact(plain_artifact, expected_sha256=None)
    read_serving_artifact(plain_artifact, expected_sha256=info.sha256)
    with pytest.raises(ArtifactError, match="not the expected"):
        load_serving_generator(plain_artifact, expected_sha256="0" * 64)


def test_a_config_of_another_format_or_none_at_all_is_refused(plain_artifact):
    rewrite_config(plain_artifact, format=2)
    with pytest.raises(ArtifactError, match="format 2, expected 1"):
        read_serving_artifact(plain_artifact)
    config = json.loads((plain_artifact / CONFIG_FILE).read_text())
    del config["format"]
    (plain_artifact / CONFIG_FILE).write_text(json.dumps(config))
    with pytest.raises(ArtifactError, match="format None"):
        read_serving_artifact(plain_artifact)
    (plain_artifact / CONFIG_FILE).unlink()
    with pytest.raises(ArtifactError, match="no manifest"):
        read_serving_artifact(plain_artifact)


def test_weights_of_another_architecture_are_refused(plain_artifact):
    rewrite_config(plain_artifact, architecture={**json.loads(
        (plain_artifact / CONFIG_FILE).read_text())["architecture"], "channels": 16})
    with pytest.raises(ArtifactError, match="do not fit the architecture"):
        load_serving_generator(plain_artifact)


def test_hash_matching_bytes_that_are_not_safetensors_are_refused(plain_artifact):
    junk = b"not a safetensors file"
    (plain_artifact / WEIGHTS_FILE).write_bytes(junk)
    rewrite_config(plain_artifact, sha256=hashlib.sha256(junk).hexdigest(), size=len(junk))
    with pytest.raises(ArtifactError, match="cannot load"):
        read_serving_artifact(plain_artifact)


def test_rewriting_an_artifact_replaces_it_whole(plain_artifact, tmp_path, mnist_small):
    copy = tmp_path / "copy"
    shutil.copytree(plain_artifact, copy)
    state, sha256 = tiny_run(tmp_path / "other", mnist_small, "averaged")
    info = write_serving_artifact(state, copy, sha256)
    _, read = read_serving_artifact(copy, expected_sha256=info.sha256)
    assert read.averaged and sorted(p.name for p in copy.iterdir()) == [CONFIG_FILE, WEIGHTS_FILE]


@pytest.mark.parametrize(("averaged", "decay", "says"), [
    (True, 0.999, "the weight average (ema_decay 0.999) with a constant, bias-corrected decay"),
    (False, 0.0, "the live weights"),
])
def test_an_artifact_written_before_served_weights_says_what_it_serves(
    tmp_path, averaged, decay, says
):
    """config.json of an older artifact has no served_weights: its average kept a constant decay."""
    data = {"sha256": "a" * 64, "size": 1, "architecture": {}, "conditional": False,
            "ema_decay": decay, "averaged": averaged, "dataset": "mnist", "train_config": {},
            "step": 5, "source_sha256": "b" * 64}
    assert ArtifactInfo.from_json(tmp_path, data).served_weights.startswith(says)
