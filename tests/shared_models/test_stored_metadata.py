"""Every reader of stored metadata (a serving artifact's config.json, a checkpoint's manifest,
the cached classifier's manifest, a config dict) reads what was written and refuses anything
else with the project's own error, saying what was wrong: whatever JSON value, size, nesting
or number the file holds, and before it reads a weights file bigger than its architecture."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import tracemalloc
from dataclasses import asdict
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.hostile_archives import model_folder
from shared_models.checkpoint import (
    CheckpointError,
    checkpoint_path,
    load_checkpoint,
    manifest_path,
    newest_checkpoint,
    save_checkpoint,
)
from shared_models.config import (
    MAX_NETWORK_PARAMETERS,
    DiscriminatorConfig,
    GeneratorConfig,
    TrainConfig,
    from_dict,
    to_dict,
)
from shared_models.evaluation.classifier import Classifier, ClassifierConfig
from shared_models.evaluation.classifier_store import (
    FORMAT_VERSION as CLASSIFIER_FORMAT,
)
from shared_models.evaluation.classifier_store import (
    ClassifierError,
    classifier_path,
    load_classifier,
    read_info,
)
from shared_models.networks import Generator
from shared_models.serving_artifact import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    ArtifactError,
    read_serving_artifact,
)
from shared_models.verified_files import MAX_MANIFEST_BYTES, write_verified
from tests.conftest import TINY_G, tiny_train_config
from tests.support.stored_json import JSON_VALUES, dumps, edited, edits, field_paths

FUZZ = settings(max_examples=250, derandomize=True, deadline=None, database=None)
# what refusing a manifest may allocate in Python objects: far below any payload named here
SMALL_PEAK = 8 << 20


@pytest.fixture(scope="module")
def artifact(tmp_path_factory) -> Path:
    """A tiny generator's serving artifact, written as a worker writes one."""
    return model_folder(tmp_path_factory.mktemp("artifact") / "model", TINY_G)


@pytest.fixture(scope="module")
def scratch(artifact, tmp_path_factory) -> Path:
    """A copy of the artifact whose config.json each example rewrites."""
    folder = tmp_path_factory.mktemp("scratch") / "model"
    shutil.copytree(artifact, folder)
    return folder


def config_of(folder: Path) -> dict:
    return json.loads((folder / CONFIG_FILE).read_text())


def read_or_refuse(folder: Path) -> None:
    """Read the artifact; a refusal must be an ArtifactError that names the folder."""
    try:
        read_serving_artifact(folder)
    except ArtifactError as error:
        assert str(folder) in str(error)


# --- a serving artifact's config.json --------------------------------------------------------


@FUZZ
@given(value=JSON_VALUES)
def test_any_json_value_as_config_json_is_refused_with_an_artifact_error(scratch, value):
    (scratch / CONFIG_FILE).write_text(dumps(value))
    with pytest.raises(ArtifactError, match="manifest"):
        read_serving_artifact(scratch)


@FUZZ
@given(data=st.data())
def test_any_edit_of_config_json_is_read_or_refused_with_an_artifact_error(
    artifact, scratch, data
):
    valid = config_of(artifact)
    changes = data.draw(edits(field_paths(valid)))
    (scratch / CONFIG_FILE).write_text(dumps(edited(valid, changes)))
    read_or_refuse(scratch)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"architecture": {"hidden": 1e300}}, "hidden must be an integer, got 1e\\+300"),
        ({"architecture": {"hidden": True}}, "hidden must be an integer, got True"),
        ({"architecture": {"hidden": -5}}, "hidden must be >= 1, got -5"),
        ({"architecture": {"channels": 10**12}}, "channels must be <= 8192"),
        ({"architecture": {"hidden": 65536, "channels": 8192}}, "parameters, over the"),
        ({"architecture": []}, "architecture must be an object, got \\[\\]"),
        ({"step": "x"}, "step must be an integer, got 'x'"),
        ({"step": 2**64}, "step must be <= "),
        ({"ema_decay": float("nan")}, "NaN is not a number a manifest holds"),
        ({"ema_decay": 2.0}, "ema_decay must be in \\[0, 1\\]"),
        ({"conditional": 1}, "conditional must be true or false"),
        ({"conditional": True}, "conditional is True, but the architecture has 0 classes"),
        ({"train_config": {"lr": "fast"}}, "lr must be a finite number, got 'fast'"),
        ({"train_config": {"iterations": 0}}, "iterations must be in"),
        ({"sha256": "not a hash"}, "sha256 must be a SHA-256"),
        ({"sha256": "f" * 10**5}, "sha256 must be a SHA-256 in hexadecimal, got 'fff"),
        ({"size": -1}, "size must be >= 0"),
        ({"size": 10**6}, "declares weights of 1000000 bytes; its architecture's take at most"),
        ({"format": True}, "format True, expected 1"),
        ({"source_sha256": None}, "source_sha256 must be a string, got None"),
    ],
)
def test_each_kind_of_bad_field_is_refused_in_words(artifact, scratch, change, message):
    valid = config_of(artifact)
    for key, value in change.items():
        valid[key] = {**valid[key], **value} if isinstance(value, dict) else value
    (scratch / CONFIG_FILE).write_text(dumps(valid))
    with pytest.raises(ArtifactError, match=message) as error:
        read_serving_artifact(scratch)
    assert len(str(error.value)) < 400  # the value shown is cut short


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"a": ' * 40 + b"1" + b"}" * 40, "nested deeper than 32 levels"),
        (b'{"size": ' + b"9" * 5000 + b"}", "Exceeds the limit"),  # Python's own digit bound
        (b'"just a string"', "not a JSON object"),
        (b"null", "not a JSON object"),
        (b'{"x": 1e999}', "too large a number"),
        (b'{"x": -Infinity}', "Infinity is not a number"),
        (b'{"x": "\\udc00"}', "text that is not UTF-8"),
        (b"\x80\x81{", "unreadable manifest"),
        (b" " * (MAX_MANIFEST_BYTES + 1), f"over {MAX_MANIFEST_BYTES} bytes"),
    ],
)
def test_json_that_is_not_a_manifest_is_refused_in_words(scratch, text, message):
    (scratch / CONFIG_FILE).write_bytes(text)
    with pytest.raises(ArtifactError, match=message):
        read_serving_artifact(scratch)


def test_a_huge_config_json_is_refused_after_reading_only_its_bound(scratch):
    (scratch / CONFIG_FILE).write_bytes(b" ")
    os.truncate(scratch / CONFIG_FILE, 1 << 30)  # sparse: no disk used
    tracemalloc.start()
    try:
        with pytest.raises(ArtifactError, match="over .* bytes"):
            read_serving_artifact(scratch)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < SMALL_PEAK


@pytest.mark.parametrize("where", ["declared", "on disk"])
def test_weights_bigger_than_the_architecture_are_refused_unread(artifact, tmp_path, where):
    """A config.json declaring a gigabyte of weights for a tiny generator, and a file of a
    gigabyte beside an honest config.json, are both refused before the weights are read."""
    folder = tmp_path / "model"
    shutil.copytree(artifact, folder)
    os.truncate(folder / WEIGHTS_FILE, 1 << 30)  # sparse: no disk used
    if where == "declared":
        (folder / CONFIG_FILE).write_text(dumps({**config_of(artifact), "size": 1 << 30}))
        message = "declares weights of 1073741824 bytes"
    else:
        message = "contents do not match its manifest \\(1073741824 bytes; expected"
    tracemalloc.start()
    try:
        with pytest.raises(ArtifactError, match=message):
            read_serving_artifact(folder)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < SMALL_PEAK


def test_a_weights_file_just_within_its_architecture_is_read(artifact):
    weights, info = read_serving_artifact(artifact)
    assert info.generator_config == TINY_G and set(weights) == set(Generator(TINY_G).state_dict())


# --- checkpoint manifests --------------------------------------------------------------------


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A run folder with one small checkpoint (a plain dict of the fields loading reads)."""
    run = tmp_path_factory.mktemp("run")
    state = {
        "format": 1,
        "step": 1,
        "dataset": "mnist",
        "train_config": to_dict(tiny_train_config()),
        "generator_config": to_dict(TINY_G),
    }
    save_checkpoint(state, checkpoint_path(run, 1), final=True)
    return run


def replacements(valid: dict) -> st.SearchStrategy:
    """Any JSON value instead of ``valid``, or (three times as often) edits of it."""
    edit = edits(field_paths(valid)).map(lambda changes: edited(valid, changes))
    return st.one_of(JSON_VALUES, edit, edit, edit)


@FUZZ
@given(data=st.data())
def test_any_checkpoint_manifest_is_read_or_refused_with_a_checkpoint_error(run_dir, data):
    path = checkpoint_path(run_dir, 1)
    manifest = manifest_path(path)
    valid = json.loads(manifest.read_text())
    try:
        manifest.write_text(dumps(data.draw(replacements(valid))))
        try:
            load_checkpoint(path)
        except CheckpointError as error:
            assert str(run_dir) in str(error)
        newest_checkpoint(run_dir)  # a bad manifest is skipped, never raised
    finally:
        manifest.write_text(dumps(valid))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"step": "x"}, "step must be an integer, got 'x'"),
        ({"final": "yes"}, "final must be true or false"),
        ({"created_at": float("inf")}, "created_at must be a finite number"),
        ({"size": True}, "no sha256 and size"),
    ],
)
def test_bad_checkpoint_manifests_are_refused_in_words(run_dir, change, message):
    path = checkpoint_path(run_dir, 1)
    manifest = manifest_path(path)
    valid = manifest.read_text()
    try:
        manifest.write_text(dumps({**json.loads(valid), **change}))
        with pytest.raises(CheckpointError, match=message):
            load_checkpoint(path)
    finally:
        manifest.write_text(valid)


def test_figures_entered_in_a_checkpoint_manifest_may_be_nan(run_dir):
    path = checkpoint_path(run_dir, 1)
    manifest = manifest_path(path)
    valid = manifest.read_text()
    try:
        manifest.write_text(dumps({**json.loads(valid), "metrics": {"fid": float("nan")}}))
        _, read = load_checkpoint(path)
        assert read.extra["metrics"]["fid"] != read.extra["metrics"]["fid"]
    finally:
        manifest.write_text(valid)


# --- the cached classifier's manifest ---------------------------------------------------------


SMALL_CLASSIFIER = ClassifierConfig(channels1=2, channels2=2, features=4)


@pytest.fixture(scope="module")
def classifier_cache(tmp_path_factory) -> Path:
    """A cached classifier's weights and manifest, as classifier_store writes them."""
    path = classifier_path("mnist", tmp_path_factory.mktemp("data"))
    state = {
        "format": CLASSIFIER_FORMAT,
        "dataset": "mnist",
        "config": asdict(SMALL_CLASSIFIER),
        "model": Classifier(SMALL_CLASSIFIER).state_dict(),
    }
    buffer = io.BytesIO()
    torch.save(state, buffer)
    fields = {
        "path": path.name, "dataset": "mnist", "test_accuracy": 0.5, "train_seconds": 1.0,
        "config": asdict(SMALL_CLASSIFIER), "train_config": {}, "created_at": 0.0,
    }
    write_verified(path, buffer.getvalue(), fields, format_version=CLASSIFIER_FORMAT)
    return path


@FUZZ
@given(data=st.data())
def test_any_classifier_manifest_is_read_or_refused_with_a_classifier_error(
    classifier_cache, data
):
    manifest = classifier_cache.with_suffix(".json")
    valid = json.loads(manifest.read_text())
    try:
        manifest.write_text(dumps(data.draw(replacements(valid))))
        with contextlib.suppress(ClassifierError):
            info = read_info(classifier_cache)
            assert info is not None
            load_classifier(classifier_cache, info)
    finally:
        manifest.write_text(dumps(valid))


def test_a_classifier_is_built_from_its_manifests_settings_only(classifier_cache):
    manifest = classifier_cache.with_suffix(".json")
    valid = manifest.read_text()
    try:
        huge = {**asdict(SMALL_CLASSIFIER), "channels1": 10**9}
        manifest.write_text(dumps({**json.loads(valid), "config": huge}))
        info = read_info(classifier_cache)
        assert info is not None
        with pytest.raises(ClassifierError, match="other settings"):
            load_classifier(classifier_cache, info)
    finally:
        manifest.write_text(valid)


# --- configs rebuilt from stored dicts ---------------------------------------------------------


@FUZZ
@given(
    cls=st.sampled_from([GeneratorConfig, DiscriminatorConfig, TrainConfig]),
    data=st.one_of(JSON_VALUES, st.fixed_dictionaries({}, optional={
        name: JSON_VALUES for name in ("nz", "hidden", "channels", "kernel", "image_size",
                                       "num_classes", "label_maps", "leak", "projection",
                                       "iterations", "lr", "beta2", "compile", "dataset")
    })),
)
def test_any_stored_dict_makes_a_valid_config_or_a_value_error(cls, data):
    try:
        config = from_dict(cls, data)
    except ValueError:
        return
    if cls is not TrainConfig:
        assert config.parameter_count <= MAX_NETWORK_PARAMETERS
