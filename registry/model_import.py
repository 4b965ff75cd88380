"""Bringing a model in: an exported serving artifact, verified, put in the store and recorded.

An imported model is the serving artifact alone (``model.safetensors`` + ``config.json``, as
``GET /models/{id}/export`` and ``dcgan export`` write it), loaded and checked the way
``Generator.from_pretrained`` checks it before anything is stored. Its id is
``imported-`` and the first 16 hex digits of its weights' SHA-256, so it is also its own
``job`` name: ``model=imported-...`` finds it wherever a model is named. Weights that are here
already — imported before, or trained here — are the model that exists, not a copy.

It has no training checkpoint and no job; its row says where it came from (``provenance``).
It is final: once scored here the serving policy's gate treats it as any finished job's
model. The figures its model card shows, measured where it was exported, are kept in its
provenance to read; they never feed the gate.
"""

from __future__ import annotations

from pathlib import Path

from artifacts.publishing import StoredModel
from artifacts.store import ArtifactStore
from registry.model_records import ModelRecord, ModelRecords
from shared_models.model_card import CARD_FILE, card_figures
from shared_models.serving_artifact import CONFIG_FILE, WEIGHTS_FILE, load_serving_generator

IMPORTED_PREFIX = "imported-"
IMPORTED_DIR = "imported"  # store folder of imported models' artifacts


def imported_id(sha256: str) -> str:
    return IMPORTED_PREFIX + sha256[:16]


def import_artifact(
    records: ModelRecords, store: ArtifactStore, folder: Path, source: str
) -> tuple[ModelRecord, bool]:
    """The model whose artifact is in ``folder`` (checked whole: an ArtifactError says what is
    wrong), stored and recorded unless its weights are here already: (its row, whether it is
    new)."""
    _, info = load_serving_generator(folder)  # every check from_pretrained makes
    existing = records.with_weights(info.sha256)
    if existing is not None:
        return existing, False
    model_id = imported_id(info.sha256)
    key = f"{IMPORTED_DIR}/{model_id}"
    for name in (WEIGHTS_FILE, CONFIG_FILE):  # the weights first, as a checkpoint's are
        store.put_file(folder / name, f"{key}/{name}")
    stored = StoredModel(
        job_id=model_id, step=info.step, iterations=int(info.train_config["iterations"]),
        final=True, dataset=info.dataset, conditional=info.conditional,
        ema_decay=info.ema_decay, served_weights=info.served_weights, checkpoint_key=None,
        checkpoint_sha256=None, checkpoint_size=None, artifact_key=key, sha256=info.sha256,
        size=info.size,
    )
    # when: the row's created_at; the checkpoint the weights came from, where they were trained
    provenance: dict[str, object] = {"source": source, "checkpoint_sha256": info.source_sha256}
    card = folder / CARD_FILE
    figures = card_figures(card.read_text(errors="replace")) if card.is_file() else {}
    if figures:
        provenance["card"] = figures  # kept to read, never to judge it by
    return records.add_imported(stored, provenance)
