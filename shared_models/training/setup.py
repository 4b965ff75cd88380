"""How a training session runs on its device: the precision and compile settings a run asks
for, resolved, and recorded per segment of the run.

``precision="auto"`` is the fastest setup measured or argued for each device:

- CPU: float32 (bfloat16 on a CPU without AMX only adds casts);
- CUDA, eager: float32 storage with TF32 tensor-core matmuls and convolutions ("tf32").
  bfloat16 autocast adds a cast kernel before many operations (``bench/op_counts.py`` counts
  them; docs/performance.md has the figures); eager steps on a fast GPU are bound by kernel
  launches, not by arithmetic, so the casts cost more than bfloat16 saves;
- CUDA, compiled: bfloat16 autocast. CUDA graphs replay the whole step without per-kernel
  launch cost and the compiler fuses the casts into their neighbours, so what remains is
  arithmetic and memory traffic, which bfloat16 halves.

A run resumed elsewhere (another host, another device) may resolve differently; each session
is a segment with its own resolved setup, kept in the checkpoint and the job's record.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from shared_models.config import TrainConfig

RESOLVED_PRECISIONS = ("float32", "tf32", "bfloat16")


def resolve_precision(asked: str, device: torch.device, compiled: bool) -> str:
    """One of RESOLVED_PRECISIONS for what ``asked`` means on ``device``."""
    if asked != "auto":
        return asked
    if device.type != "cuda":
        return "float32"
    return "bfloat16" if compiled else "tf32"


@dataclass(frozen=True)
class Segment:
    """A stretch of a run trained in one session with one setup."""

    from_step: int
    device: str  # "cuda", "cuda:1", "cpu"
    precision: str  # resolved: float32, tf32 or bfloat16
    compile: bool
    asked_precision: str
    asked_compile: bool

    @classmethod
    def start(cls, config: TrainConfig, device: torch.device, step: int) -> Segment:
        return cls(
            from_step=step,
            device=str(device),
            precision=resolve_precision(config.precision, device, config.compile),
            compile=config.compile,
            asked_precision=config.precision,
            asked_compile=config.compile,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def apply_matmul_precision(segment: Segment) -> None:
    """TF32 tensor-core matmuls and convolutions for a "tf32" segment, full float32 otherwise
    (process-wide settings: a worker runs one job at a time)."""
    tf32 = segment.precision == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32


COMPILE_CACHE = "torchinductor"


def use_compile_cache(data_dir: Path) -> Path:
    """Keep torch.compile's cache in the data folder (a volume in compose), so later runs
    reuse compiled graphs instead of compiling again; an explicit TORCHINDUCTOR_CACHE_DIR
    wins. Call before the first compile."""
    folder = Path(os.environ.setdefault(
        "TORCHINDUCTOR_CACHE_DIR", str((data_dir / COMPILE_CACHE).resolve())
    ))
    folder.mkdir(parents=True, exist_ok=True)
    return folder
