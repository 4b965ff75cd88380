"""The evaluation classifier and the sample-quality metrics built on it.

The MNIST classifier is trained once (about a minute on a 2-core CPU) into the repository's
data folder and reused from there; its accuracy is measured here, not read from its manifest.
"""

import hashlib
import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from shared_models.data import ImageData
from shared_models.evaluation import (
    ClassifierConfig,
    ClassifierError,
    ClassifierTrainConfig,
    Evaluator,
    FeatureStats,
    classifier_path,
    frechet_distance,
    inception_score,
    load_or_train_classifier,
    train_classifier,
)
from shared_models.evaluation.classifier_store import manifest_path, read_info
from shared_models.evaluation.classifier_training import random_shift
from shared_models.evaluation.metrics import (
    class_shares,
    per_class_accuracy,
    total_variation,
)
from shared_models.evaluation.reference import noise_images, real_images, reference_values
from shared_models.evaluation.test_stats_cache import cached_test_stats, read_stats, stats_path
from shared_models.networks import Generator, init_weights
from shared_models.training.batches import to_unit_range
from tests.conftest import TINY_G

REQUIRED_MNIST_ACCURACY = 0.993


@pytest.fixture(scope="session")
def mnist_classifier(data_dir):
    return load_or_train_classifier("mnist", data_dir)


@pytest.fixture(scope="module")
def evaluator(mnist_classifier, mnist_test) -> Evaluator:
    model, info = mnist_classifier
    return Evaluator(model, mnist_test, info)


def tiny_generator(seed: int = 0, **config: int) -> Generator:
    model = Generator(replace(TINY_G, **config))
    init_weights(model, torch.Generator().manual_seed(seed))
    return model.eval()


# --- the classifier ---------------------------------------------------------------------


@torch.no_grad()
def test_mnist_classifier_reaches_the_required_test_accuracy(mnist_classifier, mnist_test):
    model, info = mnist_classifier
    model.eval()
    logits = torch.cat(
        [model(to_unit_range(chunk)) for chunk in mnist_test.images.split(2000)]
    )
    measured = float((logits.argmax(1) == mnist_test.labels).double().mean())
    assert measured >= REQUIRED_MNIST_ACCURACY
    assert abs(measured - info.test_accuracy) <= 2e-4  # the manifest tells the truth
    assert info.path == classifier_path("mnist", info.path.parent.parent)


def test_classifier_training_is_seeded(mnist_small):
    config = ClassifierConfig(channels1=4, channels2=8, features=16)
    short = {"epochs": 1, "batch_size": 64}
    first = train_classifier(mnist_small, config, ClassifierTrainConfig(seed=0, **short))
    again = train_classifier(mnist_small, config, ClassifierTrainConfig(seed=0, **short))
    other = train_classifier(mnist_small, config, ClassifierTrainConfig(seed=1, **short))
    weights = [model.model.state_dict()["fc2.weight"] for model in (first, again, other)]
    assert torch.equal(weights[0], weights[1])
    assert not torch.equal(weights[0], weights[2])


def test_random_shift_moves_each_image_by_at_most_the_limit():
    images = torch.full((400, 1, 28, 28), -1.0)
    images[:, 0, 14, 14] = 1.0  # one bright pixel in the centre
    shifted = random_shift(images, 2, torch.Generator().manual_seed(0))
    assert shifted.shape == images.shape
    assert bool((shifted == 1.0).flatten(1).sum(1).eq(1).all())  # moved, never lost or copied
    flat = shifted[:, 0].flatten(1).argmax(1)
    rows, columns = flat // 28 - 14, flat % 28 - 14
    assert rows.abs().max() == 2 and columns.abs().max() == 2
    assert len(set(zip(rows.tolist(), columns.tolist(), strict=True))) == 25  # every offset


# --- the cached weights -------------------------------------------------------------------


def copy_cache(mnist_classifier, data_dir: Path) -> Path:
    _, info = mnist_classifier
    target = classifier_path("mnist", data_dir)
    target.parent.mkdir(parents=True)
    shutil.copyfile(info.path, target)
    shutil.copyfile(manifest_path(info.path), manifest_path(target))
    return target


def test_a_copied_cache_loads_the_same_weights(mnist_classifier, tmp_path):
    copy_cache(mnist_classifier, tmp_path)
    model, info = load_or_train_classifier("mnist", tmp_path)
    original, _ = mnist_classifier
    assert info.sha256 == mnist_classifier[1].sha256
    assert not model.training
    for key, value in original.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key


def test_a_corrupt_cache_is_refused_with_a_clear_error(mnist_classifier, tmp_path):
    weights = copy_cache(mnist_classifier, tmp_path)
    payload = bytearray(weights.read_bytes())
    payload[len(payload) // 2] ^= 0xFF
    weights.write_bytes(bytes(payload))
    with pytest.raises(ClassifierError, match="do not match its manifest") as error:
        load_or_train_classifier("mnist", tmp_path)
    assert str(weights) in str(error.value) and "--force" in str(error.value)


def test_bytes_that_match_the_manifest_but_are_not_a_classifier_are_refused(
    mnist_classifier, tmp_path
):
    weights = copy_cache(mnist_classifier, tmp_path)
    weights.write_bytes(b"not a torch file")
    manifest = json.loads(manifest_path(weights).read_text())
    manifest.update(sha256=hashlib.sha256(b"not a torch file").hexdigest(), size=16)
    manifest_path(weights).write_text(json.dumps(manifest))
    with pytest.raises(ClassifierError, match="cannot load"):
        load_or_train_classifier("mnist", tmp_path)


def test_an_unreadable_manifest_is_refused_and_weights_without_one_count_as_missing(
    mnist_classifier, tmp_path
):
    weights = copy_cache(mnist_classifier, tmp_path)
    manifest_path(weights).write_text("{truncated")
    with pytest.raises(ClassifierError, match="unreadable manifest"):
        read_info(weights)
    manifest_path(weights).unlink()
    assert read_info(weights) is None  # an unfinished save: trained again, never trusted


# --- the test set's cached statistics ------------------------------------------------------


def same_stats(a: FeatureStats, b: FeatureStats) -> bool:
    return torch.equal(a.mean, b.mean) and torch.equal(a.cov, b.cov) and a.count == b.count


def test_the_test_sets_statistics_are_cached_per_classifier_and_device(
    mnist_classifier, evaluator, tmp_path
):
    info = replace(mnist_classifier[1], path=tmp_path / "mnist-cnn.pt")
    computed = []

    def compute() -> FeatureStats:
        computed.append(1)
        return evaluator.test_stats

    for _ in range(2):
        assert same_stats(cached_test_stats(info, "cpu", compute), evaluator.test_stats)
    assert len(computed) == 1 and stats_path(info).is_file()
    cached_test_stats(replace(info, sha256="0" * 64), "cpu", compute)  # another classifier
    cached_test_stats(info, "cuda", compute)  # the same one on another kind of device
    assert len(computed) == 3


@pytest.mark.parametrize("damage", ["garbage", "nan", "shape", "missing key"])
def test_a_damaged_statistics_file_is_computed_again(mnist_classifier, evaluator, tmp_path,
                                                     damage):
    info = replace(mnist_classifier[1], path=tmp_path / "mnist-cnn.pt")
    good = evaluator.test_stats
    state = {"classifier_sha256": info.sha256, "device": "cpu", "mean": good.mean,
             "cov": good.cov, "count": good.count}
    if damage == "nan":
        state["cov"] = good.cov.clone().fill_(float("nan"))
    elif damage == "shape":
        state["cov"] = good.cov[:3]
    elif damage == "missing key":
        del state["mean"]
    if damage == "garbage":
        stats_path(info).write_bytes(b"\x80not a torch file")
    else:
        torch.save(state, stats_path(info))
    assert same_stats(cached_test_stats(info, "cpu", lambda: good), good)
    assert same_stats(read_stats(stats_path(info), {"classifier_sha256": info.sha256,
                                                    "device": "cpu"}), good)  # replaced


def test_an_evaluator_for_a_data_set_scores_as_one_computed_from_scratch(evaluator, data_dir):
    # the data folder's file may have been written by a process with more threads, whose
    # float sums end in other last bits: the same statistics, not the same bits
    cached = Evaluator.for_dataset("mnist", data_dir)  # computes or reads the data folder's file
    for cached_part, fresh_part in ((cached.test_stats.mean, evaluator.test_stats.mean),
                                    (cached.test_stats.cov, evaluator.test_stats.cov)):
        assert torch.allclose(cached_part, fresh_part, rtol=1e-5, atol=1e-6)
    generator = tiny_generator(seed=3)
    scored = cached.evaluate_generator(generator, 200, seed=1)
    fresh = evaluator.evaluate_generator(generator, 200, seed=1)
    assert scored.frechet_distance == pytest.approx(fresh.frechet_distance, rel=1e-5)
    assert replace(scored, frechet_distance=0.0) == replace(fresh, frechet_distance=0.0)


# --- Fréchet distance -----------------------------------------------------------------------


def correlated_features(n: int, dim: int, seed: int) -> torch.Tensor:
    rng = torch.Generator().manual_seed(seed)
    mixing = torch.randn(dim, dim, generator=rng, dtype=torch.float64)
    return torch.randn(n, dim, generator=rng, dtype=torch.float64) @ mixing


def test_feature_statistics_are_the_mean_and_unbiased_covariance():
    features = correlated_features(300, 6, 5)
    stats = FeatureStats.of(features.float())  # computed in float64 whatever comes in
    assert stats.mean.dtype == stats.cov.dtype == torch.float64 and stats.count == 300
    assert np.allclose(stats.mean.numpy(), features.float().double().numpy().mean(0))
    assert np.allclose(stats.cov.numpy(), np.cov(features.float().double().numpy(), rowvar=False))
    with pytest.raises(ValueError, match="N >= 2"):
        FeatureStats.of(features[:1])


def test_identical_feature_sets_are_at_distance_zero():
    stats = FeatureStats.of(correlated_features(2000, 16, 0))
    assert frechet_distance(stats, stats) < 1e-8
    assert stats.cov.trace() > 1  # not trivially zero


def test_a_shifted_feature_set_is_at_the_squared_shift():
    features = correlated_features(2000, 16, 1)
    shift = torch.linspace(-1, 2, 16, dtype=torch.float64)
    distance = frechet_distance(FeatureStats.of(features), FeatureStats.of(features + shift))
    assert distance == pytest.approx(float(shift @ shift), rel=1e-9)


def test_gaussians_with_diagonal_covariances_match_the_closed_form():
    mean_a, mean_b = torch.zeros(5, dtype=torch.float64), torch.arange(5, dtype=torch.float64)
    var_a = torch.tensor([1.0, 2.0, 3.0, 4.0, 0.5], dtype=torch.float64)
    var_b = torch.tensor([4.0, 1.0, 1.0, 9.0, 0.5], dtype=torch.float64)
    a = FeatureStats(mean_a, torch.diag(var_a), 100)
    b = FeatureStats(mean_b, torch.diag(var_b), 100)
    roots = (var_a.sqrt() - var_b.sqrt()).square().sum()
    expected = float((mean_a - mean_b).square().sum() + roots)
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-12)
    assert frechet_distance(b, a) == pytest.approx(expected, rel=1e-12)


def test_non_commuting_covariances_match_the_eigenvalues_of_their_product():
    a = FeatureStats.of(correlated_features(500, 8, 2))
    b = FeatureStats.of(correlated_features(500, 8, 3))
    product = a.cov.numpy() @ b.cov.numpy()
    trace_sqrt = np.sqrt(np.linalg.eigvals(product).real.clip(min=0)).sum()
    diff = (a.mean - b.mean).numpy()
    expected = diff @ diff + np.trace(a.cov.numpy()) + np.trace(b.cov.numpy()) - 2 * trace_sqrt
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-9)
    assert frechet_distance(a, b) == pytest.approx(frechet_distance(b, a), rel=1e-9)


def test_sampled_gaussians_approach_the_closed_form():
    rng = torch.Generator().manual_seed(4)
    shift = torch.tensor([3.0, 0.0, -1.0, 0.5], dtype=torch.float64)
    x = torch.randn(40_000, 4, generator=rng, dtype=torch.float64)  # N(0, I)
    y = 2 * torch.randn(40_000, 4, generator=rng, dtype=torch.float64) + shift  # N(shift, 4I)
    expected = float(shift @ shift) + 4 * (1 - 2) ** 2
    assert frechet_distance(FeatureStats.of(x), FeatureStats.of(y)) == pytest.approx(
        expected, rel=0.02
    )


# --- Inception Score and coverage -----------------------------------------------------------


def test_inception_score_bounds():
    assert inception_score(torch.full((100, 10), 0.1)) == pytest.approx(1.0)
    one_hot_balanced = torch.eye(10).repeat(7, 1)
    assert inception_score(one_hot_balanced) == pytest.approx(10.0, rel=1e-12)
    assert inception_score(torch.eye(10)[[3] * 50]) == pytest.approx(1.0)  # one class only
    assert inception_score(torch.eye(10)[:5].repeat(4, 1)) == pytest.approx(5.0, rel=1e-12)
    rng = torch.Generator().manual_seed(0)
    for temperature in (0.1, 1.0, 5.0):
        logits = torch.randn(300, 10, generator=rng) / temperature
        score = inception_score(torch.softmax(logits, 1))
        assert 1.0 <= score <= 10.0


def test_class_shares_and_total_variation():
    predicted = torch.tensor([0, 0, 1, 3, 3, 3, 9, 9])
    shares = class_shares(predicted, 10)
    assert float(shares.sum()) == pytest.approx(1.0)
    assert shares[3] == pytest.approx(3 / 8) and shares[2] == 0
    uniform = torch.full((10,), 0.1, dtype=torch.float64)
    assert total_variation(uniform, uniform) == 0
    assert total_variation(class_shares(torch.zeros(5), 10), class_shares(torch.ones(5), 10)) == 1


def test_per_class_accuracy_counts_the_requested_class_only():
    requested = torch.tensor([0, 0, 1, 1, 1, 2])
    predicted = torch.tensor([0, 1, 1, 1, 0, 5])
    accuracy = per_class_accuracy(predicted, requested, 4)
    assert accuracy[:3].tolist() == pytest.approx([0.5, 2 / 3, 0.0])
    assert torch.isnan(accuracy[3])  # never requested


# --- whole evaluations ------------------------------------------------------------------------


def test_the_test_set_against_itself(evaluator, mnist_test: ImageData):
    result = evaluator.evaluate_images(mnist_test.images)
    assert result.frechet_distance < 1e-6
    assert result.inception_score > 9
    assert result.classes_covered == 10
    assert sum(result.class_shares) == pytest.approx(1.0)
    assert result.class_tv < 0.01  # a 99%+ classifier nearly reproduces the label shares


def test_real_images_are_the_floor_and_noise_the_ceiling(evaluator, data_dir):
    values = reference_values(evaluator, data_dir, n=2000, seed=0)
    floor, ceiling = values.floor, values.ceiling
    assert floor.n == ceiling.n == 2000
    assert floor.frechet_distance * 50 < ceiling.frechet_distance
    assert floor.inception_score > 9 > 2 > ceiling.inception_score
    assert floor.classes_covered == 10 and floor.class_tv < 0.05
    assert ceiling.class_tv > 0.5
    assert set(values.to_dict()) == {
        "dataset", "n", "seed", "classifier_test_accuracy", "floor", "ceiling",
    }


def test_reference_images_are_seeded_and_in_range(mnist_train):
    noise = noise_images(500, seed=1)
    assert noise.dtype == torch.uint8 and noise.shape == (500, 28, 28)
    assert torch.equal(noise, noise_images(500, seed=1))
    assert int(noise.min()) == 0 and int(noise.max()) == 255
    real = real_images(mnist_train.images, 100, seed=1)
    assert torch.equal(real, real_images(mnist_train.images, 100, seed=1))
    assert not torch.equal(real, real_images(mnist_train.images, 100, seed=2))
    with pytest.raises(ValueError, match="between 2 and 60000"):
        real_images(mnist_train.images, 60_001, seed=0)


def test_generator_evaluation_is_seeded(evaluator):
    generator = tiny_generator()
    first = evaluator.evaluate_generator(generator, n=300, seed=5)
    assert first == evaluator.evaluate_generator(generator, n=300, seed=5)
    other = evaluator.evaluate_generator(generator, n=300, seed=6)
    assert other.frechet_distance != first.frechet_distance
    assert first.n == 300 and first.seed == 5 and first.label_accuracy is None
    assert sum(first.class_shares) == pytest.approx(1.0)
    assert 1 <= first.inception_score <= 10
    json.dumps(first.to_dict())  # plain JSON types only


def test_conditional_generators_are_asked_for_every_class(evaluator):
    generator = tiny_generator(num_classes=10)
    result = evaluator.evaluate_generator(generator, n=200, seed=0)
    assert result.per_class_accuracy is not None and result.label_accuracy is not None
    assert len(result.per_class_accuracy) == 10
    assert all(value is not None for value in result.per_class_accuracy)  # all were requested
    # balanced requests: the overall accuracy is the mean of the per-class ones
    mean = sum(v for v in result.per_class_accuracy if v is not None) / 10
    assert result.label_accuracy == pytest.approx(mean)
    with pytest.raises(ValueError, match="not conditional"):
        evaluator.evaluate_generator(tiny_generator(), n=10, seed=0, labels=torch.arange(10))
    with pytest.raises(ValueError, match="classes"):
        evaluator.evaluate_generator(tiny_generator(num_classes=3), n=10, seed=0)
