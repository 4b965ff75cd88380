"""Training: the tutorial's schedule, the run loop, batches drawn on the device."""

from shared_models.training.device import describe_device, pick_device
from shared_models.training.loop import (
    Progress,
    ResumeMismatch,
    SavedCheckpoint,
    TrainHooks,
    TrainResult,
    train,
)
from shared_models.training.trainer import Trainer

__all__ = [
    "Progress",
    "ResumeMismatch",
    "SavedCheckpoint",
    "TrainHooks",
    "TrainResult",
    "Trainer",
    "describe_device",
    "pick_device",
    "train",
]
