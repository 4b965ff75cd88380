"""Faster ways to compute some of the networks' layers, with the same math.

Three changes, each timed against the plain layer before it was kept, applied by
:func:`use_fast_layers` to the trainer's own copies of the networks and to every generator
rebuilt from a checkpoint for sampling and serving:

- **Channels-last activations and weights** (CPU and CUDA). oneDNN and cuDNN both run the
  generator's 128->128 transposed convolution and its BatchNorm/ReLU faster on NHWC, and the
  generator's 128x7x7 map is made NHWC right where it is shaped, so that forward and backward
  never mix layouts.
- **Few-channel convolutions as one matrix product** (CPU only). oneDNN's blocked kernels
  vectorise over channels, so a convolution with a single channel on one side (the
  generator's 128->1 output layer, the discriminator's 1->64 layer) leaves most vector lanes
  empty; ``unfold``/``fold`` plus one GEMM does the same sums with every lane busy.
- **The other transposed convolutions' gradients in two calls** (CPU only). Asked for the
  input and the weight gradient of the 128->128 layer at once, oneDNN is slower than asked
  for each alone.

All three keep every parameter and buffer name, shape and value, so state dicts and
checkpoints are unchanged; only the order of floating-point additions differs (tested against
the plain layers in tests/shared_models/test_equivalence.py and test_layers.py).
"""

from __future__ import annotations

import logging
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

log = logging.getLogger(__name__)


def conv2d_gemm(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    stride: tuple[int, int],
    padding: tuple[int, int],
) -> torch.Tensor:
    """``F.conv2d`` (no dilation, one group) as unfold + one matrix product."""
    batch, _, height, width = x.shape
    out_channels, _, kh, kw = weight.shape
    out_h = (height + 2 * padding[0] - kh) // stride[0] + 1
    out_w = (width + 2 * padding[1] - kw) // stride[1] + 1
    columns = F.unfold(x, (kh, kw), padding=padding, stride=stride)  # (B, C*kh*kw, L)
    out = weight.reshape(out_channels, -1) @ columns  # (B, O, L)
    if bias is not None:
        out = out + bias.view(1, -1, 1)
    return out.view(batch, out_channels, out_h, out_w)


def conv_transpose2d_gemm(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    stride: tuple[int, int],
    padding: tuple[int, int],
    output_padding: tuple[int, int],
) -> torch.Tensor:
    """``F.conv_transpose2d`` (no dilation, one group) as one matrix product + fold."""
    batch, in_channels, height, width = x.shape
    kh, kw = weight.shape[2], weight.shape[3]
    out_h = (height - 1) * stride[0] - 2 * padding[0] + kh + output_padding[0]
    out_w = (width - 1) * stride[1] - 2 * padding[1] + kw + output_padding[1]
    flat_weight = weight.reshape(in_channels, -1)  # (C, O*kh*kw)
    if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        pixels = x.permute(0, 2, 3, 1).reshape(batch, height * width, in_channels)
        columns = (pixels @ flat_weight).transpose(1, 2)  # (B, O*kh*kw, H*W)
    else:
        columns = flat_weight.t() @ x.reshape(batch, in_channels, height * width)
    out = F.fold(columns, (out_h, out_w), (kh, kw), padding=padding, stride=stride)
    if bias is not None:
        out = out + bias.view(1, -1, 1, 1)
    return out


class _TransposedConvolution(torch.autograd.Function):
    """``F.conv_transpose2d`` whose backward computes each needed gradient in its own call."""

    @staticmethod
    def forward(
        ctx: Any,
        x: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        stride: list[int],
        padding: list[int],
        output_padding: list[int],
    ) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        ctx.geometry = (stride, padding, output_padding)
        return F.conv_transpose2d(x, weight, bias, stride, padding, output_padding)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, weight = ctx.saved_tensors
        stride, padding, output_padding = ctx.geometry

        def gradient(index: int) -> torch.Tensor | None:
            if not ctx.needs_input_grad[index]:
                return None
            mask = [position == index for position in range(3)]
            return torch.ops.aten.convolution_backward(
                grad, x, weight, None, stride, padding, [1, 1], True, output_padding, 1, mask
            )[index]

        grad_bias = grad.sum((0, 2, 3)) if ctx.needs_input_grad[2] else None
        return gradient(0), gradient(1), grad_bias, None, None, None


def _as_pair(value: int | str | tuple[int, ...]) -> tuple[int, int]:
    if isinstance(value, str):  # "same"/"valid": never switched (see _gemm_friendly)
        raise ValueError(f"GEMM convolutions need numeric padding, got {value!r}")
    if isinstance(value, int):
        return value, value
    return int(value[0]), int(value[-1])


class GemmConv2d(nn.Conv2d):
    """An ``nn.Conv2d`` (same parameters and state dict) computed by :func:`conv2d_gemm`."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return conv2d_gemm(
            input, self.weight, self.bias, _as_pair(self.stride), _as_pair(self.padding)
        )


class GemmConvTranspose2d(nn.ConvTranspose2d):
    """An ``nn.ConvTranspose2d`` computed by :func:`conv_transpose2d_gemm`."""

    def forward(self, input: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        if output_size is not None:
            return super().forward(input, output_size)
        return conv_transpose2d_gemm(
            input,
            self.weight,
            self.bias,
            _as_pair(self.stride),
            _as_pair(self.padding),
            _as_pair(self.output_padding),
        )


class SplitGradientConvTranspose2d(nn.ConvTranspose2d):
    """An ``nn.ConvTranspose2d`` whose backward asks for its gradients one at a time.

    Without gradients (sampling) or under autocast it is the plain layer.
    """

    def forward(self, input: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        plain = (
            output_size is not None
            or not torch.is_grad_enabled()
            or torch.is_autocast_enabled(input.device.type)
        )
        if plain:
            return super().forward(input, output_size)
        return _TransposedConvolution.apply(
            input,
            self.weight,
            self.bias,
            list(_as_pair(self.stride)),
            list(_as_pair(self.padding)),
            list(_as_pair(self.output_padding)),
        )


def _plain(layer: nn.Conv2d | nn.ConvTranspose2d) -> bool:
    return (
        layer.groups == 1
        and _as_pair(layer.dilation) == (1, 1)
        and layer.padding_mode == "zeros"
        and not isinstance(layer.padding, str)
    )


def _gemm_friendly(layer: nn.Conv2d | nn.ConvTranspose2d) -> bool:
    """A plain convolution with one channel on one side and several on the other."""
    channels = (layer.in_channels, layer.out_channels)
    return _plain(layer) and min(channels) == 1 and max(channels) > 1


def use_cpu_convolutions(module: nn.Module) -> list[str]:
    """Switch ``module``'s few-channel convolutions to their GEMM forms and its other transposed
    convolutions to split gradients; return the names of the layers switched.

    Only the class changes (the subclasses add no state), so the parameters, the optimiser's
    references to them and the state dict stay exactly as they were.
    """
    switched = []
    for name, layer in module.named_modules():
        if type(layer) is nn.ConvTranspose2d and _gemm_friendly(layer):
            layer.__class__ = GemmConvTranspose2d
        elif type(layer) is nn.Conv2d and _gemm_friendly(layer):
            layer.__class__ = GemmConv2d
        elif type(layer) is nn.ConvTranspose2d and _plain(layer):
            layer.__class__ = SplitGradientConvTranspose2d
        else:
            continue
        switched.append(name)
    return switched


def _channels_last_input(
    module: nn.Module, args: tuple[torch.Tensor, ...]
) -> tuple[torch.Tensor, ...]:
    first, *rest = args
    return (first.contiguous(memory_format=torch.channels_last), *rest)


def use_channels_last(module: nn.Module) -> None:
    """4-D weights and the inputs of every 2-D BatchNorm in NHWC (values unchanged)."""
    module.to(memory_format=torch.channels_last)
    for layer in module.modules():
        if isinstance(layer, _BatchNorm) and isinstance(layer, nn.BatchNorm2d):
            layer.register_forward_pre_hook(_channels_last_input)


def use_fast_layers(module: nn.Module, device: torch.device) -> None:
    """The layer implementations that measured fastest on ``device``'s kind, in place."""
    use_channels_last(module)
    if device.type == "cpu":
        switched = use_cpu_convolutions(module)
        log.debug("%s: CPU convolution forms for %s", type(module).__name__, switched)
