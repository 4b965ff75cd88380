"""``dcgan eval`` and ``dcgan classifier`` as a user runs them: real processes, real MNIST."""

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from shared_models.data import MNIST
from shared_models.evaluation import classifier_path, load_or_train_classifier
from shared_models.evaluation.classifier_store import manifest_path
from shared_models.training import train
from tests.cli.run import assert_one_line_error, dcgan
from tests.conftest import TINY_D, TINY_G, tiny_train_config

RESULT_KEYS = {
    "checkpoint", "step", "dataset", "n", "seed", "frechet_distance", "inception_score",
    "class_shares", "classes_covered", "coverage_threshold", "class_tv", "label_accuracy",
    "per_class_accuracy", "seconds",
}



@pytest.fixture(scope="module")
def classifier(data_dir):
    """The MNIST classifier, cached in the data folder (trained there on first use)."""
    return load_or_train_classifier("mnist", data_dir)


def tiny_run(folder: Path, data, num_classes: int = 0) -> Path:
    result = train(
        tiny_train_config(),
        data,
        folder,
        generator_config=replace(TINY_G, num_classes=num_classes),
        discriminator_config=replace(TINY_D, num_classes=num_classes),
    )
    assert result.checkpoint is not None
    return folder


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, mnist_small) -> Path:
    return tiny_run(tmp_path_factory.mktemp("eval") / "run", mnist_small)


def eval_json(*args: str) -> dict:
    result = dcgan("eval", *args, "--json")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    return json.loads(lines[0])


def test_eval_prints_one_json_object(classifier, run_dir, data_dir):
    summary = eval_json(str(run_dir), "--n", "300", "--seed", "2", "--data-dir", str(data_dir))
    assert set(summary) == RESULT_KEYS
    assert summary["step"] == 6 and summary["dataset"] == "mnist"
    assert summary["n"] == 300 and summary["seed"] == 2
    assert Path(summary["checkpoint"]).name == "step_0000006.pt"
    assert summary["frechet_distance"] > 0
    assert 1 <= summary["inception_score"] <= 10
    assert len(summary["class_shares"]) == 10
    assert sum(summary["class_shares"]) == pytest.approx(1.0)
    assert summary["label_accuracy"] is None and summary["per_class_accuracy"] is None


def test_eval_is_seeded(classifier, run_dir, data_dir):
    checkpoint = str(run_dir / "checkpoints" / "step_0000006.pt")
    common = ("--n", "200", "--data-dir", str(data_dir))
    first = eval_json(checkpoint, "--seed", "1", *common)
    again = eval_json(str(run_dir), "--seed", "1", *common)  # the run folder's newest checkpoint
    other = eval_json(checkpoint, "--seed", "9", *common)
    for key in ("frechet_distance", "inception_score", "class_shares"):
        assert first[key] == again[key], key
    assert first["frechet_distance"] != other["frechet_distance"]


def test_eval_text_output_names_the_metrics(classifier, run_dir, data_dir):
    result = dcgan("eval", str(run_dir), "--n", "100", "--data-dir", str(data_dir))
    assert result.returncode == 0, result.stderr
    for fragment in ("step 6", "Frechet distance", "Inception score", "class coverage"):
        assert fragment in result.stdout
    assert "label accuracy" not in result.stdout


def test_eval_of_a_conditional_generator_reports_per_class_accuracy(
    classifier, tmp_path, mnist_small, data_dir
):
    run = tiny_run(tmp_path / "conditional", mnist_small, num_classes=10)
    summary = eval_json(str(run), "--n", "200", "--data-dir", str(data_dir))
    assert 0 <= summary["label_accuracy"] <= 1
    assert len(summary["per_class_accuracy"]) == 10
    text = dcgan("eval", str(run), "--n", "50", "--data-dir", str(data_dir))
    assert text.returncode == 0, text.stderr
    assert "label accuracy" in text.stdout


def test_reference_floor_is_far_below_the_ceiling(classifier, data_dir):
    values = eval_json("--reference", "--n", "1000", "--data-dir", str(data_dir))
    assert values["dataset"] == "mnist" and values["n"] == 1000
    assert values["classifier_test_accuracy"] >= 0.993
    floor, ceiling = values["floor"], values["ceiling"]
    assert floor["frechet_distance"] * 50 < ceiling["frechet_distance"]
    assert floor["inception_score"] > 9 and ceiling["inception_score"] < 2
    assert floor["classes_covered"] == 10


def test_classifier_command_reports_the_cached_classifier(classifier, data_dir):
    result = dcgan("classifier", "--json", "--data-dir", str(data_dir))
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["trained"] is False
    assert summary["sha256"] == classifier[1].sha256
    assert summary["test_accuracy"] >= 0.993


@pytest.mark.parametrize(
    ("args", "code", "fragments"),
    [
        (["eval", "missing.pt"], 1, ["missing.pt", "no such checkpoint"]),
        (["eval"], 2, ["CHECKPOINT", "--reference"]),
        (["eval", "missing.pt", "--reference"], 2, ["not both"]),
        (["eval", "missing.pt", "--dataset", "mnist"], 2, ["--dataset goes with --reference"]),
        (["eval", "missing.pt", "--n", "1"], 2, ["--n must be between 2 and"]),
        (["eval", "missing.pt", "--n", "0"], 2, ["must be >= 1"]),
        (["eval", "--reference", "--dataset", "cifar"], 2, ["invalid choice"]),
    ],
)
def test_bad_arguments_give_one_clear_line(tmp_path, args, code, fragments):
    assert_one_line_error(dcgan(*args, cwd=tmp_path), code, *fragments)


def test_a_run_folder_without_checkpoints_is_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    result = dcgan("eval", str(tmp_path / "empty"), cwd=tmp_path)
    assert_one_line_error(result, 1, "no complete checkpoint")


def test_a_corrupt_classifier_cache_is_one_line(classifier, run_dir, data_dir, tmp_path):
    raw = MNIST.raw_dir(tmp_path)
    raw.parent.mkdir(parents=True)
    raw.symlink_to(MNIST.raw_dir(data_dir).resolve(), target_is_directory=True)
    weights = classifier_path("mnist", tmp_path)
    weights.parent.mkdir()
    shutil.copyfile(classifier[1].path, weights)
    shutil.copyfile(manifest_path(classifier[1].path), manifest_path(weights))
    weights.write_bytes(weights.read_bytes()[:-100])  # truncated
    result = dcgan("eval", str(run_dir), "--n", "10", "--data-dir", str(tmp_path))
    assert_one_line_error(result, 1, str(weights), "do not match its manifest", "--force")
