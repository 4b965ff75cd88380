"""The model card of an exported model: README.md and the sample grid it shows.

One function writes both, for ``dcgan export`` (figures scored on the spot) and for the
service's ``GET /models/{id}/export`` (figures from the models table). The card says what the
model is, what it is for and not for, the data set and its licence, the training settings, the
evaluation figures, how to load it, and shows ``samples.png``: a grid drawn through the one
sampling pipeline with a fixed seed, so the same model always shows the same grid.
"""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path
from typing import Any

import torch

from shared_models.config import NUM_CLASSES, TrainConfig, bounds_of, from_dict
from shared_models.grids import grid_png
from shared_models.networks import Generator, count_parameters
from shared_models.sampling import generate, grid_inputs
from shared_models.serving_artifact import CONFIG_FILE, WEIGHTS_FILE, ArtifactInfo
from shared_models.verified_files import atomic_write

CARD_FILE = "README.md"
SAMPLES_FILE = "samples.png"
SAMPLES_SEED = 0
# training settings that steer a run's bookkeeping, not the model: left off the card
BOOKKEEPING = {"checkpoint_every", "keep_checkpoints", "log_every", "compile"}

DATASETS = {
    "mnist": (
        "**MNIST**: 70,000 handwritten digits, 28×28 grayscale (60,000 for training, 10,000 "
        "for testing), by Yann LeCun, Corinna Cortes and Christopher J. C. Burges, made from "
        "NIST Special Databases 1 and 3 (digits written by US Census Bureau employees and "
        "high-school students); <http://yann.lecun.com/exdb/mnist/>.\n\n"
        "Licence: the original distribution page states none. Yann LeCun and Corinna Cortes "
        "hold the copyright of MNIST, a derivative work of the NIST databases, and it is "
        "commonly redistributed under the Creative Commons Attribution-Share Alike 3.0 "
        "licence (CC BY-SA 3.0); some mirrors state other terms, so check the terms of the "
        "copy you use."
    ),
    "fashion-mnist": (
        "**Fashion-MNIST**: 70,000 28×28 grayscale images of Zalando's article photos in "
        "10 classes (60,000 for training, 10,000 for testing), by Han Xiao, Kashif Rasul and "
        "Roland Vollgraf (Zalando Research); "
        "<https://github.com/zalandoresearch/fashion-mnist>.\n\n"
        "Licence: MIT (copyright 2017 Zalando SE)."
    ),
}


def sample_grid(generator: Generator) -> bytes:
    """The card's PNG: 64 samples (a conditional model: four rows of every class in turn,
    one class a column), noise seed 0."""
    classes = generator.config.num_classes
    count, nrow = (4 * classes, classes) if classes else (64, 8)
    return grid_png(generate(generator, grid_inputs(generator, count, SAMPLES_SEED)), nrow)


def write_model_card(
    folder: Path,
    generator: Generator,
    info: ArtifactInfo,
    metrics: dict[str, Any] | None,
    *,
    metrics_note: str = "no evaluation figures were computed for this model",
    model_id: str | None = None,
) -> None:
    """Write ``samples.png`` and ``README.md`` into ``folder`` (each atomically)."""
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(folder / SAMPLES_FILE, sample_grid(generator))
    text = card_text(info, metrics, metrics_note=metrics_note, model_id=model_id)
    atomic_write(folder / CARD_FILE, text.encode())


def card_text(
    info: ArtifactInfo,
    metrics: dict[str, Any] | None,
    *,
    metrics_note: str = "no evaluation figures were computed for this model",
    model_id: str | None = None,
) -> str:
    config = info.generator_config
    classes = config.num_classes
    with torch.device("meta"):
        parameters = count_parameters(Generator(config))
    name = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}.get(info.dataset, info.dataset)
    kind = f"class-conditional ({classes} classes)" if classes else "unconditional"
    draws = "an image of the requested class" if classes else "an image"
    lines = [
        f"# DCGAN generator: {name}, step {info.step}",
        "",
        "A deep convolutional GAN's generator: the PyTorch port of Microsoft's CNTK tutorial "
        f"206B, trained on {name}. It turns {config.nz} numbers drawn uniformly from [-1, 1]"
        f"{' and a class label' if classes else ''} into {draws}, "
        f"{config.image_size}×{config.image_size} grayscale, white on black.",
        "",
        f"![Samples: noise seed {SAMPLES_SEED}]({SAMPLES_FILE})",
        "",
        "| | |",
        "|---|---|",
        *([f"| model | `{model_id}` |"] if model_id else []),
        f"| kind | {kind}, {parameters:,} parameters |",
        f"| architecture | dense {config.hidden}, {config.channels} feature maps at "
        f"{config.image_size // 4}×{config.image_size // 4} and "
        f"{config.image_size // 2}×{config.image_size // 2}, {config.kernel}×{config.kernel} "
        "transposed convolutions, tanh output |",
        f"| weights | {info.served_weights} |",
        f"| `{WEIGHTS_FILE}` | {info.size:,} bytes, SHA-256 `{info.sha256}` |",
        f"| trained | {info.step:,} of {int(info.train_config.get('iterations', info.step)):,} "
        f"iterations; source checkpoint SHA-256 `{info.source_sha256}` |",
        "",
        "## Loading it",
        "",
        f"`{WEIGHTS_FILE}` and `{CONFIG_FILE}` are all a loader needs: torch, safetensors and "
        "the dcgan-service package, no pickle. The weights are checked against the SHA-256 in "
        f"`{CONFIG_FILE}` before they are used.",
        "",
        "```python",
        "from shared_models import Generator, sample_images, save_grid",
        "",
        'generator = Generator.from_pretrained("path/to/this/folder")  # or its .zip / .tar.gz',
        f"images = sample_images(generator, n=64, seed=7{', digit=3' if classes else ''})"
        "  # uint8 (64, 28, 28)",
        'save_grid(images, "digits.png")',
        "```",
        "",
        "From a checkout of the project, offline: `torch.hub.load(REPO_DIR, \"generator\", "
        "source=\"local\", path=\"path/to/this/folder\")`. On the CPU the same seed gives the "
        "same bytes as the service's `GET /generate?seed=…&model=…` for this model.",
        "",
        "## Intended use and limits",
        "",
        "- For learning and experimenting with GANs: drawing samples, walking the latent "
        "space, comparing training settings; and as a source of synthetic test images for "
        "code that takes 28×28 grayscale input.",
        f"- It draws only what {name}'s training images show, at {config.image_size}×"
        f"{config.image_size}. It is not a model of anyone's handwriting or of real products, "
        "and its images must not be passed off as real ones.",
        "- Like any GAN it draws some malformed samples, and it may draw some classes more "
        "often than others (see the class coverage below). Do not train a classifier meant "
        "for real use on its samples without checking it on real data.",
        *(["- An unconditional model cannot be asked for a class."] if not classes else []),
        "- The same inputs give the same bytes on the same machine and device; another CPU "
        "type or a GPU may differ in the last bits of some pixels.",
        "",
        "## Data set",
        "",
        DATASETS.get(info.dataset, f"{info.dataset} (no description known)"),
        "",
        "It was trained on the training split; the test split served only the evaluation "
        "figures below. The weights are learned from these images: if you pass the model on, "
        "credit the data set as above.",
        "",
        "## Training settings",
        "",
        *settings_table(info.train_config),
        "",
        "## Evaluation",
        "",
        *metrics_lines(metrics, metrics_note, name),
        "",
    ]
    return "\n".join(lines)


def settings_table(train_config: dict[str, Any]) -> list[str]:
    config = from_dict(TrainConfig, train_config)
    rows = ["| setting | value | meaning |", "|---|---|---|"]
    for item in fields(TrainConfig):
        if item.name in BOOKKEEPING:
            continue
        value: Any = getattr(config, item.name)
        if item.name == "beta2" and value is None:
            value = f"{config.adam_beta2:.6g} (CNTK's default at this batch size)"
        rows.append(f"| `{item.name}` | {value} | {bounds_of(item.name).doc} |")
    return rows


def metrics_lines(metrics: dict[str, Any] | None, note: str, dataset: str) -> list[str]:
    if not metrics:
        return [f"None: {note}."]
    if "frechet_distance" not in metrics:
        return [f"None: scoring failed ({metrics.get('error', 'no figures')})."]
    lines = [
        "| figure | value |",
        "|---|---|",
        f"| Fréchet distance to the test set (lower is better) | "
        f"{_figure(metrics, 'frechet_distance', '{:.4g}')} |",
        f"| Inception Score (1 to {NUM_CLASSES}, higher is better) | "
        f"{_figure(metrics, 'inception_score', '{:.4g}')} |",
        f"| classes holding at least 5 % of the samples | "
        f"{_figure(metrics, 'classes_covered', '{:.0f}')}/{NUM_CLASSES} |",
    ]
    if _number(metrics.get("label_accuracy")) is not None:
        lines.append(f"| samples the classifier reads as the requested class | "
                     f"{100 * metrics['label_accuracy']:.1f} % |")
    seed = metrics.get("seed", 0)
    lines += [
        "",
        f"On {metrics.get('n', '?')} samples (noise seed {0 if seed is None else seed}), "
        f"in the feature space of the project's own small {dataset} classifier: not the "
        "Inception network, so these figures are not comparable with FID figures in papers. "
        "Fréchet distances depend on the number of samples; the project's README lists what "
        "real images and pure noise score.",
    ]
    return lines


# the rows of the card's figures table that card_figures reads back, by their label's start
CARD_ROWS = {
    "Fréchet distance": "frechet_distance",
    "Inception Score": "inception_score",
    "classes holding": "classes_covered",
    "samples the classifier reads": "label_accuracy",
}
# bounded: a card comes from elsewhere, and may say anything
SAMPLES_LINE = re.compile(r"^On (\d{1,9}) samples \(noise seed (\d{1,18})\)")
FIGURE = re.compile(r"^(-?\d{1,12}(?:\.\d{1,12})?(?:e[-+]?\d{1,2})?)( %|/\d{1,3})?$")


def card_figures(text: str) -> dict[str, float | int]:
    """The evaluation figures a model card shows (``metrics_lines`` wrote them), as numbers;
    whatever is missing or unreadable is left out. Only plain decimals of bounded length are
    read, so every figure is finite and stores as JSON anywhere."""
    figures: dict[str, float | int] = {}
    _, _, evaluation = text.partition("\n## Evaluation\n")
    for line in evaluation.splitlines():
        samples = SAMPLES_LINE.match(line)
        if samples:
            figures["n"], figures["seed"] = int(samples[1]), int(samples[2])
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        key = next((key for label, key in CARD_ROWS.items() if cells[0].startswith(label)), None)
        value = FIGURE.match(cells[-1]) if key and len(cells) == 2 else None
        if key is None or value is None:
            continue
        number = float(value[1])
        if key == "classes_covered":
            figures[key] = int(number)
        else:
            figures[key] = number / 100 if value[2] == " %" else number
    return figures


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        return None
    return float(value)


def _figure(metrics: dict[str, Any], key: str, form: str) -> str:
    """One figure of a models row's metrics, or a dash where the row has none (rows written
    by other versions may hold fewer)."""
    value = _number(metrics.get(key))
    return "—" if value is None else form.format(value)
