"""How many operations one training iteration launches, per precision: a CPU stand-in for the
CUDA kernel count that bounds an eager batch-128 iteration on a fast GPU.

Every ATen operation that reaches the backend — after autograd and autocast have added
theirs, as a ``TorchDispatchMode`` sees them — and that computes something (not a view, an
alias, an allocation or a scalar read) is one kernel launch on a GPU. The networks are laid
out as on CUDA (channels-last; none of the CPU-only convolution forms), with the tutorial's
schedule at batch 128: two discriminator steps, two generator steps, fused Adam. The counts
do not depend on the machine.

    .venv/bin/python -m bench.op_counts
"""

from __future__ import annotations

import argparse
import collections
from pathlib import Path
from unittest import mock

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from shared_models.config import DiscriminatorConfig, GeneratorConfig, TrainConfig
from shared_models.data import load_dataset
from shared_models.training import Trainer

REPO = Path(__file__).resolve().parent.parent
NO_KERNEL = {
    "view", "_unsafe_view", "reshape", "_reshape_alias", "as_strided", "t", "transpose",
    "permute", "expand", "unsqueeze", "squeeze", "slice", "select", "detach", "alias",
    "empty", "empty_like", "empty_strided", "new_empty", "new_empty_strided", "resize_",
    "lift_fresh", "split", "split_with_sizes", "chunk", "unbind", "_local_scalar_dense",
    "resolve_conj", "resolve_neg", "is_same_size", "set_",
    "_record_function_enter_new", "_record_function_exit",  # profiler markers, no kernels
}


class CountKernels(TorchDispatchMode):
    """Counts the operations that reach the backend, by name."""

    def __init__(self) -> None:
        super().__init__()
        self.counted: collections.Counter[str] = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
        name = func.overloadpacket.__name__
        if name not in NO_KERNEL:
            self.counted[name] += 1
        return func(*args, **(kwargs or {}))


def kernels(precision: str, data_dir: Path) -> collections.Counter[str]:
    """Operations of one steady-state iteration that launch a kernel, by name."""
    data = load_dataset("mnist", data_dir, "train")
    config = TrainConfig(iterations=10, batch_size=128, precision=precision)
    with mock.patch("shared_models.layers.use_cpu_convolutions", lambda module: []):
        trainer = Trainer(config, GeneratorConfig(), DiscriminatorConfig(), data,
                          torch.device("cpu"))
    trainer.iteration()
    trainer.iteration()
    with CountKernels() as counter:
        trainer.iteration()
    return counter.counted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=REPO / "data")
    args = parser.parse_args()
    counts = {precision: kernels(precision, args.data_dir) for precision in
              ("float32", "bfloat16")}
    for precision, counted in counts.items():
        casts = sum(n for name, n in counted.items() if name in ("copy_", "_to_copy"))
        print(f"{precision:>9}: {sum(counted.values())} operations per iteration "
              f"({casts} of them copies and dtype casts)")
    extra = counts["bfloat16"] - counts["float32"]
    print("added under bfloat16 autocast:", ", ".join(f"{n} {name}" for name, n in
                                                     extra.most_common(6)))


if __name__ == "__main__":
    main()
