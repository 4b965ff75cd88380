"""What each supported data set is: its folder, file names, class names and array hashes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

IMAGE_SIZE = 28
SPLIT_PREFIX = {"train": "train", "test": "t10k"}
SPLIT_SIZE = {"train": 60_000, "test": 10_000}


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    folder: str  # torchvision's folder name under the data directory
    classes: tuple[str, ...]
    sha256: dict[str, str]  # "<split>-images" / "<split>-labels" -> hash of the uint8 array
    system_dirs: tuple[Path, ...] = field(default_factory=tuple)

    def raw_dir(self, data_dir: Path) -> Path:
        return data_dir / self.folder / "raw"


MNIST = DatasetSpec(
    name="mnist",
    folder="MNIST",
    classes=tuple(str(digit) for digit in range(10)),
    sha256={
        "train-images": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
        "train-labels": "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
        "test-images": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
        "test-labels": "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
    },
)

FASHION_MNIST = DatasetSpec(
    name="fashion-mnist",
    folder="FashionMNIST",
    classes=(
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
    sha256={
        "train-images": "2e487a6c89124f78f2d7521542223cafe96f7123c3ca13d447772ac6ecbb3012",
        "train-labels": "657fbd221bfc9f4198cc14b5619cc33ec57c58dd0e47af4d99d6650759e869a7",
        "test-images": "c867c93ff95360594e8ec3287995350b824dd110b11595c0e13d5423f621867a",
        "test-labels": "3d0e6c6ea990b53b6f8f500a41cac93881d981b315f84578b7d915342ade01e9",
    },
    # Debian's dataset-fashion-mnist package
    system_dirs=(Path("/usr/share/datasets/fashion-mnist"),),
)

CATALOG = {spec.name: spec for spec in (MNIST, FASHION_MNIST)}


def idx_name(split: str, kind: str) -> str:
    """torchvision's file name without the .gz suffix, e.g. ``t10k-labels-idx1-ubyte``."""
    rank = 3 if kind == "images" else 1
    return f"{SPLIT_PREFIX[split]}-{kind}-idx{rank}-ubyte"


def expected_shape(split: str, kind: str) -> tuple[int, ...]:
    count = SPLIT_SIZE[split]
    return (count, IMAGE_SIZE, IMAGE_SIZE) if kind == "images" else (count,)
