"""The ``dcgan`` command as a user runs it, on real MNIST: the training run as a process of its
own, the other commands by the entry point in this process (``tests.cli.run``)."""

import io
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from shared_models.data import MNIST
from tests.cli.run import assert_one_line_error, dcgan, dcgan_process


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, data_dir) -> tuple[Path, subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("cli") / "run"
    result = dcgan_process(
        "train", "--out", str(out), "--iterations", "50", "--batch-size", "8", "--seed", "1",
        "--checkpoint-every", "20", "--network-size", "tiny", "--json",
        "--data-dir", str(data_dir),
    )
    assert result.returncode == 0, result.stderr
    return out, result


def test_train_prints_the_tutorials_25_loss_lines_and_ends_with_json(trained_run):
    out, result = trained_run
    lines = result.stdout.strip().splitlines()
    loss_lines = [line for line in lines if line.startswith("Minibatch ")]
    assert len(loss_lines) == 25 and loss_lines[0].startswith("Minibatch 1-2: D loss")
    summary = json.loads(lines[-1])
    assert set(summary) == {
        "iterations", "seconds", "iterations_per_s", "d_loss", "g_loss", "seed", "checkpoint",
    }
    assert summary["iterations"] == 50 and summary["iterations_per_s"] > 0
    assert summary["seed"] == 1
    assert Path(summary["checkpoint"]).name == "step_0000050.pt"
    assert "it/s" in result.stderr  # the progress bar shows the rate


def test_resume_continues_the_run(trained_run, data_dir):
    out, _ = trained_run
    result = dcgan(
        "train", "--out", str(out), "--iterations", "55", "--resume", "--json",
        "--data-dir", str(data_dir),
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1])["iterations"] == 55


def test_sample_writes_a_png_grid_and_raw_npz(trained_run, tmp_path):
    out, _ = trained_run
    png = dcgan("sample", str(out), "--out", str(tmp_path / "grid.png"), "--n", "10",
                "--nrow", "5", "--seed", "4")
    assert png.returncode == 0, png.stderr
    image = Image.open(io.BytesIO((tmp_path / "grid.png").read_bytes()))
    assert image.mode == "L" and image.size == (5 * 30 + 2, 2 * 30 + 2)
    npz = dcgan("sample", str(out), "--out", str(tmp_path / "digits.npz"), "--seed", "4")
    assert npz.returncode == 0, npz.stderr
    images = np.load(tmp_path / "digits.npz")["images"]
    assert images.shape == (64, 28, 28) and images.dtype == np.uint8
    grid = np.asarray(image)
    assert np.array_equal(grid[2:30, 2:30], images[0])  # same seed, same first digit


@pytest.mark.parametrize(
    ("args", "code", "fragments"),
    [
        (["train"], 2, ["--out"]),
        (["train", "--out", "x", "--iterations", "0"], 2,
         ["--iterations: input should be greater than or equal to 1"]),
        (["train", "--out", "x", "--fast", "--slow"], 2, ["not allowed with"]),
        (["train", "--out", "x", "--dataset", "cifar"], 2, ["invalid choice"]),
        (["train", "--out", "x", "--ema-decay", "1.5"], 2,
         ["--ema-decay: input should be less than 1"]),
        (["sample", "missing.pt", "--out", "a.png"], 1, ["missing.pt", "no such checkpoint"]),
        (["sample", "missing.pt", "--out", "a.txt"], 2, [".png or .npz"]),
        (["sample", "missing.pt", "--out", "a.png", "--n", "5000"], 2,
         ["at most 1024 for a .png grid"]),
        (["frobnicate"], 2, ["invalid choice"]),
    ],
)
def test_bad_arguments_give_one_clear_line(tmp_path, args, code, fragments):
    assert_one_line_error(dcgan(*args, cwd=tmp_path), code, *fragments)


def test_training_into_a_used_folder_needs_resume(trained_run, data_dir):
    out, _ = trained_run
    result = dcgan("train", "--out", str(out), "--iterations", "5", "--data-dir", str(data_dir))
    assert_one_line_error(result, 2, "already holds checkpoints", "--resume")


def test_data_reports_a_corrupt_file_by_name(tmp_path, data_dir):
    raw = MNIST.raw_dir(tmp_path)
    shutil.copytree(MNIST.raw_dir(data_dir), raw)
    broken = raw / "train-images-idx3-ubyte.gz"
    broken.write_bytes(broken.read_bytes()[:5000])
    result = dcgan("data", "--data-dir", str(tmp_path))
    assert_one_line_error(result, 1, str(broken), "cannot read")


def test_data_dir_defaults_to_the_environment_variable(data_dir, tmp_path):
    result = dcgan("data", "--json", env={"DCGAN_DATA_DIR": str(data_dir)}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    splits = json.loads(result.stdout)["splits"]
    assert [s["images"] for s in splits] == [60000, 10000]
    assert splits[0]["source"] == str(MNIST.raw_dir(data_dir))


def test_conditional_training_and_sampling_a_chosen_digit(tmp_path, data_dir, trained_run):
    out = tmp_path / "cond"
    # 20 steps: after 3, a tiny generator's pixels all lie within a grey level or two of 127
    # for every digit, and one seed in a hundred or so draws the same bytes for 7s and 3s
    trained = dcgan("train", "--out", str(out), "--iterations", "20", "--batch-size", "8",
                    "--conditional", "--network-size", "tiny", "--json",
                    "--data-dir", str(data_dir))
    assert trained.returncode == 0, trained.stderr
    state = json.loads(trained.stdout.strip().splitlines()[-1])
    assert state["iterations"] == 20
    sevens = dcgan("sample", str(out), "--out", str(tmp_path / "7.npz"), "--digit", "7")
    threes = dcgan("sample", str(out), "--out", str(tmp_path / "3.npz"), "--digit", "3")
    assert sevens.returncode == 0 and threes.returncode == 0, sevens.stderr
    assert not np.array_equal(np.load(tmp_path / "7.npz")["images"],
                              np.load(tmp_path / "3.npz")["images"])
    plain, _ = trained_run
    refused = dcgan("sample", str(plain), "--out", str(tmp_path / "x.png"), "--digit", "7")
    assert_one_line_error(refused, 1, "not conditional")
