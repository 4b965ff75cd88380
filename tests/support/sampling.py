"""What the sampling tests read besides images: the generator's float output block by block.

``generate`` quantises to uint8, which hides most last-bit differences between two ways of
computing a row. ``block_floats`` passes ``generate`` a ``map_blocks`` that records each block's
forward output, so a test can compare the floats themselves, bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch

from shared_models.networks import Generator
from shared_models.sampling import BlockMap, SampleInputs, generate


def block_floats(
    generator: Generator, inputs: SampleInputs, map_blocks: BlockMap = map
) -> torch.Tensor:
    """The (n, 1, 28, 28) floats ``generate`` computes for ``inputs`` with ``map_blocks``."""
    recorded: list[torch.Tensor] = []

    def recording(
        forward: Callable[[int], torch.Tensor], starts: Iterable[int]
    ) -> list[torch.Tensor]:
        blocks = list(map_blocks(forward, starts))
        recorded.extend(blocks)
        return blocks

    generate(generator, inputs, recording)
    return torch.cat(recorded)[: inputs.rows]
