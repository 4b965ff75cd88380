"""Choosing the training/inference device, and checking that it can run.

A CUDA build of torch on a host whose driver is missing or too old reports no CUDA at all
(``torch.cuda.is_available()`` is False; the reason only shows when CUDA is used). A worker
told ``DCGAN_DEVICE=cuda`` must then refuse to start instead of failing every job, and a
worker left to choose says why it trains on the CPU: ``check_device`` finds out, and the
worker runs it in a child process so its own process never initialises CUDA before forking.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


def pick_device(requested: str | None = None) -> torch.device:
    """``requested`` when given, else CUDA when present, else the CPU."""
    if requested:
        device = torch.device(requested)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError("CUDA was requested but no CUDA device is available")
        return device
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads)"


@dataclass(frozen=True)
class DeviceCheck:
    usable: bool
    device: str  # what training will use ("cuda", "cuda:1", "cpu"), or what was asked
    description: str  # the device, or why it cannot run
    note: str | None = None  # a reason CUDA is not used, when the CPU was chosen


def check_device(requested: str | None) -> DeviceCheck:
    """Whether training can run where ``requested`` (None: the automatic choice) says."""
    try:
        wanted = torch.device(requested) if requested else None
    except RuntimeError as error:
        return DeviceCheck(False, str(requested), f"not a device: {error}")
    if wanted is not None and wanted.type != "cuda":
        return DeviceCheck(True, str(wanted), describe_device(wanted))
    reason = _cuda_problem(wanted or torch.device("cuda"))
    if reason is None:
        device = wanted or torch.device("cuda")
        return DeviceCheck(True, str(device), describe_device(device))
    if wanted is not None:
        return DeviceCheck(False, str(wanted), f"CUDA is not usable: {reason}")
    cpu = torch.device("cpu")
    return DeviceCheck(True, "cpu", describe_device(cpu), note=f"CUDA is not usable: {reason}")


def _cuda_problem(device: torch.device) -> str | None:
    """None when a small computation runs on ``device``, else why not."""
    if torch.version.cuda is None:
        return "this torch build has no CUDA support"
    try:
        (torch.ones(2, device=device) * 2).sum().item()
    except (RuntimeError, AssertionError) as error:
        return str(error).strip().splitlines()[0]
    return None
