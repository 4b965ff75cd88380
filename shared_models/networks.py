"""The tutorial's generator and discriminator (CNTK 206B), ported to PyTorch.

Batch normalisation follows CNTK's ``BatchNormalization(map_rank=1)``: per feature for the
dense 1024-unit layers and per channel wherever the tensor has a spatial layout, which
includes the generator's second dense layer once it is shaped as 128x7x7. Every layer keeps
its bias, as CNTK's layers do. With ``num_classes > 0`` both networks are conditioned on a
one-hot label: concatenated to the noise, and to the discriminator's input planes and its
dense features. Conditional jobs also turn on ``label_maps`` (the label adds a learned
128x7x7 map to the generator's second dense layer) and ``projection`` (the discriminator's
logit gains the label's learned vector dotted with its dense features, as in Miyato and
Koyama's projection discriminator): without them the generator can take thousands of
iterations to learn a class.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from shared_models.config import DiscriminatorConfig, GeneratorConfig

INIT_STD = 0.02


def init_weights(module: nn.Module, generator: torch.Generator | None = None) -> None:
    """The tutorial's init: every dense/convolution weight ~ N(0, 0.02), biases 0, BN scale 1."""
    for layer in module.modules():
        if isinstance(layer, nn.Linear | nn.Conv2d | nn.ConvTranspose2d):
            with torch.no_grad():
                layer.weight.normal_(0.0, INIT_STD, generator=generator)
                if layer.bias is not None:
                    layer.bias.zero_()
        elif isinstance(layer, nn.BatchNorm1d | nn.BatchNorm2d):
            nn.init.ones_(layer.weight)
            nn.init.zeros_(layer.bias)


def one_hot(labels: torch.Tensor, num_classes: int, dtype: torch.dtype) -> torch.Tensor:
    return F.one_hot(labels.long(), num_classes).to(dtype)


class Generator(nn.Module):
    """z (B, nz) in [-1, 1] -> images (B, 1, 28, 28) in [-1, 1]."""

    def __init__(self, config: GeneratorConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or GeneratorConfig()
        self.base = config.image_size // 4  # 7
        pad = config.kernel // 2  # "same" padding
        self.fc1 = nn.Linear(config.nz + config.num_classes, config.hidden)  # (B, 1024)
        self.bn1 = nn.BatchNorm1d(config.hidden)
        self.fc2 = nn.Linear(config.hidden, config.channels * self.base**2)  # (B, 128*7*7)
        if config.num_classes and config.label_maps:
            self.label_maps = nn.Linear(
                config.num_classes, config.channels * self.base**2, bias=False
            )  # (B, 128*7*7)
        self.bn2 = nn.BatchNorm2d(config.channels)  # on (B, 128, 7, 7)
        self.deconv1 = nn.ConvTranspose2d(
            config.channels,
            config.channels,
            config.kernel,
            stride=2,
            padding=pad,
            output_padding=1,
        )  # (B, 128, 14, 14)
        self.bn3 = nn.BatchNorm2d(config.channels)
        self.deconv2 = nn.ConvTranspose2d(
            config.channels, 1, config.kernel, stride=2, padding=pad, output_padding=1
        )  # (B, 1, 28, 28)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.config.num_classes:
            if labels is None:
                raise ValueError("this generator is conditional: pass labels")
            y = one_hot(labels, self.config.num_classes, z.dtype)
            z = torch.cat([z, y], dim=1)
        h = F.relu(self.bn1(self.fc1(z)))  # (B, 1024)
        h = self.fc2(h)
        if self.config.num_classes and self.config.label_maps:
            h = h + self.label_maps(y)
        h = h.view(-1, self.config.channels, self.base, self.base)  # (B, 128, 7, 7)
        h = F.relu(self.bn2(h))
        h = F.relu(self.bn3(self.deconv1(h)))  # (B, 128, 14, 14)
        return torch.tanh(self.deconv2(h))  # (B, 1, 28, 28)

    @classmethod
    def from_pretrained(
        cls, path: str | Path, device: torch.device | str | None = None, fast_layers: bool = True
    ) -> Generator:
        """An exported model's generator, ready to sample: ``path`` is a folder holding
        ``model.safetensors`` + ``config.json`` (what ``dcgan export`` writes, and what the
        service serves) or a .zip/.tar.gz archive of one (``GET /models/{id}/export``). The
        weights are checked against the SHA-256 in config.json and loaded without pickle; the
        generator is in eval mode on ``device`` (default the CPU, where the service samples:
        there the same seed gives the service's bytes)."""
        # breaks a real cycle: the archive loader (shared_models.pretrained) builds this class
        from shared_models.pretrained import load_pretrained

        generator, _ = load_pretrained(path, device, fast_layers)
        return generator


class Discriminator(nn.Module):
    """images (B, 1, 28, 28) in [-1, 1] -> logits (B,); D(x) = sigmoid(logit)."""

    def __init__(self, config: DiscriminatorConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or DiscriminatorConfig()
        feature = config.feature_size  # 4
        self.conv1 = nn.Conv2d(
            1 + config.num_classes, config.conv1_channels, config.kernel, stride=2
        )  # (B, 1, 12, 12)
        self.bn1 = nn.BatchNorm2d(config.conv1_channels)
        self.conv2 = nn.Conv2d(
            config.conv1_channels, config.conv2_channels, config.kernel, stride=2
        )  # (B, 64, 4, 4)
        self.bn2 = nn.BatchNorm2d(config.conv2_channels)
        self.fc1 = nn.Linear(
            config.conv2_channels * feature**2 + config.num_classes, config.hidden
        )  # (B, 1024)
        self.bn3 = nn.BatchNorm1d(config.hidden)
        self.fc2 = nn.Linear(config.hidden, 1)  # (B, 1)
        if config.num_classes and config.projection:
            self.project = nn.Linear(config.num_classes, config.hidden, bias=False)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        leak = self.config.leak
        x = x.view(-1, 1, self.config.image_size, self.config.image_size)
        y = None
        if self.config.num_classes:
            if labels is None:
                raise ValueError("this discriminator is conditional: pass labels")
            y = one_hot(labels, self.config.num_classes, x.dtype)
            planes = y[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])
            x = torch.cat([x, planes], dim=1)
        h = F.leaky_relu(self.bn1(self.conv1(x)), leak)  # (B, 1, 12, 12)
        h = F.leaky_relu(self.bn2(self.conv2(h)), leak)  # (B, 64, 4, 4)
        h = h.flatten(1)  # (B, 1024)
        if y is not None:
            h = torch.cat([h, y], dim=1)
        h = F.leaky_relu(self.bn3(self.fc1(h)), leak)  # (B, 1024)
        logits = self.fc2(h).squeeze(1)  # (B,)
        if y is not None and self.config.projection:
            logits = logits + (self.project(y) * h).sum(dim=1)
        return logits

    def probability(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return torch.sigmoid(self(x, labels))


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
