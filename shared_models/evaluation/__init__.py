"""Sample quality: a small CNN per data set and the metrics computed in its feature space.

``evaluate_checkpoint(checkpoint, data_dir, n)`` or
``Evaluator.for_dataset(...).evaluate_generator`` give the Fréchet distance to the test set,
the classifier Inception Score and the class coverage; ``compute_reference`` gives what real
digits (floor) and noise (ceiling) score.
"""

from shared_models.evaluation.classifier import Classifier, ClassifierConfig
from shared_models.evaluation.classifier_store import (
    ClassifierError,
    ClassifierInfo,
    classifier_path,
    load_or_train_classifier,
)
from shared_models.evaluation.classifier_training import (
    ClassifierTrainConfig,
    accuracy,
    train_classifier,
)
from shared_models.evaluation.evaluate import (
    DEFAULT_SAMPLES,
    EvaluationResult,
    Evaluator,
    evaluate_checkpoint,
)
from shared_models.evaluation.metrics import (
    FeatureStats,
    frechet_distance,
    inception_score,
)
from shared_models.evaluation.reference import ReferenceValues, compute_reference

__all__ = [
    "DEFAULT_SAMPLES",
    "Classifier",
    "ClassifierConfig",
    "ClassifierError",
    "ClassifierInfo",
    "ClassifierTrainConfig",
    "EvaluationResult",
    "Evaluator",
    "FeatureStats",
    "ReferenceValues",
    "accuracy",
    "classifier_path",
    "compute_reference",
    "evaluate_checkpoint",
    "frechet_distance",
    "inception_score",
    "load_or_train_classifier",
    "train_classifier",
]
