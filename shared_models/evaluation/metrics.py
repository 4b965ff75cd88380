"""Sample-quality metrics on a classifier's outputs, in float64.

- Fréchet distance between two Gaussians fitted to feature sets:
  ``|mu_a - mu_b|^2 + tr(S_a) + tr(S_b) - 2 tr((S_a S_b)^(1/2))``. The trace of the matrix
  square root is taken from the eigenvalues of the symmetric PSD matrix
  ``S_a^(1/2) S_b S_a^(1/2)``, which has the same eigenvalues as ``S_a S_b``; both
  decompositions are symmetric (``eigh``), so it is stable without scipy's ``sqrtm``.
- Classifier Inception Score: ``exp(mean_x KL(p(y|x) || p(y)))``, between 1 and the number
  of classes.
- Class coverage: the share of each class among the predicted labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class FeatureStats:
    """Mean (D,) and unbiased covariance (D, D) of a feature set, float64."""

    mean: torch.Tensor
    cov: torch.Tensor
    count: int

    @classmethod
    def of(cls, features: torch.Tensor) -> FeatureStats:
        """(N, D) features -> their Gaussian statistics (needs N >= 2)."""
        if features.ndim != 2 or features.shape[0] < 2:
            raise ValueError(f"need (N >= 2, D) features, got shape {tuple(features.shape)}")
        x = features.double()
        mean = x.mean(0)
        centred = x - mean
        cov = centred.T @ centred / (x.shape[0] - 1)
        return cls(mean, cov, int(x.shape[0]))


def psd_sqrt(matrix: torch.Tensor) -> torch.Tensor:
    """Square root of a symmetric positive semi-definite matrix (tiny negative eigenvalues -> 0)."""
    symmetric = (matrix + matrix.T) / 2
    values, vectors = torch.linalg.eigh(symmetric)
    return (vectors * values.clamp(min=0).sqrt()) @ vectors.T


def trace_sqrt_product(cov_a: torch.Tensor, cov_b: torch.Tensor) -> torch.Tensor:
    """tr((S_a S_b)^(1/2)) for symmetric PSD S_a, S_b."""
    root_a = psd_sqrt(cov_a.double())
    middle = root_a @ cov_b.double() @ root_a  # symmetric PSD, same eigenvalues as S_a S_b
    values = torch.linalg.eigvalsh((middle + middle.T) / 2)
    return values.clamp(min=0).sqrt().sum()


def frechet_distance(a: FeatureStats, b: FeatureStats) -> float:
    if a.mean.shape != b.mean.shape:
        raise ValueError(f"feature sizes differ: {a.mean.shape[0]} and {b.mean.shape[0]}")
    diff = a.mean.double() - b.mean.double()
    covariance_term = (
        a.cov.double().trace() + b.cov.double().trace() - 2 * trace_sqrt_product(a.cov, b.cov)
    )
    return max(0.0, float(diff @ diff + covariance_term))


def inception_score(probabilities: torch.Tensor) -> float:
    """exp(mean KL(p(y|x) || p(y))) for (N, C) rows of class probabilities."""
    p = probabilities.double()
    if p.ndim != 2 or p.shape[0] < 1:
        raise ValueError(f"need (N, C) probabilities, got shape {tuple(p.shape)}")
    marginal = p.mean(0, keepdim=True)  # p(y), (1, C)
    kl = (torch.xlogy(p, p) - torch.xlogy(p, marginal)).sum(1)  # 0 log 0 = 0
    return float(kl.mean().exp())


def class_shares(predicted: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Share of each class among predicted labels (C,), summing to 1."""
    if predicted.numel() == 0:
        raise ValueError("no predictions")
    counts = torch.bincount(predicted.long().flatten(), minlength=num_classes)
    return counts.double() / predicted.numel()


def total_variation(shares: torch.Tensor, reference: torch.Tensor) -> float:
    """Half the L1 distance between two class distributions: 0 (same) to 1 (disjoint)."""
    return float((shares.double() - reference.double()).abs().sum() / 2)


def per_class_accuracy(
    predicted: torch.Tensor, requested: torch.Tensor, num_classes: int
) -> torch.Tensor:
    """For each class c, the share of samples asked to be c that the classifier calls c.

    NaN for a class that was never requested.
    """
    hits = torch.bincount(requested[predicted == requested].long(), minlength=num_classes)
    asked = torch.bincount(requested.long(), minlength=num_classes)
    return torch.where(asked > 0, hits.double() / asked.clamp(min=1), torch.nan)
