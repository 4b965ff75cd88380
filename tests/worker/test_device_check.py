"""The worker's training device, checked before it starts: a device that cannot run is
refused with the reason; left to choose, the worker says why it trains on the CPU."""

from __future__ import annotations

import logging

import torch

from dcgan_cli.worker_command import check_training_device
from shared_models.training.device import check_device
from tests.cli.run import assert_one_line_error, dcgan_process


def test_the_cpu_always_runs():
    check = check_device("cpu")
    assert check.usable and check.device == "cpu" and check.note is None


def test_a_cuda_device_that_does_not_exist_is_not_usable():
    check = check_device("cuda:99")  # no machine has a hundredth GPU
    assert not check.usable and "CUDA is not usable" in check.description


def test_a_device_name_that_means_nothing_is_not_usable():
    check = check_device("gpu")
    assert not check.usable and "not a device" in check.description


def test_the_automatic_choice_says_why_it_is_the_cpu():
    check = check_device(None)
    assert check.usable
    if torch.cuda.is_available():
        assert check.device == "cuda" and check.note is None
    else:
        assert check.device == "cpu" and check.note and "CUDA is not usable" in check.note


def test_a_worker_told_to_use_a_device_that_cannot_run_refuses_to_start(tmp_path):
    env = {"DCGAN_DEVICE": "cuda:99", "DCGAN_DATA_DIR": str(tmp_path),
           "DCGAN_RUNS_DIR": str(tmp_path / "runs")}
    result = dcgan_process("worker", env=env, cwd=tmp_path)
    assert_one_line_error(result, 2, "DCGAN_DEVICE=cuda:99", "CUDA is not usable")
    assert not (tmp_path / "runs").exists()  # it stopped before touching anything


def test_a_worker_told_to_train_on_the_cpu_needs_no_device_check(caplog):
    with caplog.at_level(logging.INFO):
        assert check_training_device("cpu") == "cpu"
    assert "jobs train on cpu (" in caplog.text
