"""Which model the service serves, and why: a pin, else promotion through a score gate.

1. **Pinned.** An operator pinned a model (``PUT /serving/pin``, or a rollback): it is served
   whatever its data set or scores, until it is unpinned.
2. **Promoted.** Otherwise the newest *final* model (a finished job's) trained on the data set
   being served (``DCGAN_SERVE_DATASET``) whose scores pass the gate: an Inception Score of at
   least ``DCGAN_PROMOTE_MIN_INCEPTION_SCORE`` and a Fréchet distance of at most
   ``DCGAN_PROMOTE_MAX_FRECHET_DISTANCE``, as the worker measured them on that data set's
   classifier. A model not scored yet does not pass.
3. **Provisional.** Before any model passes, the newest model of that data set (finals first),
   so a first training run shows digits as soon as its first checkpoint exists.

Every replica decides from the database alone (the models table and the newest pin), so all
replicas serve the same model. A rollback pins the model served before the current one.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from registry.model_records import ModelRecord, ModelRecords, scores_of
from registry.serving_pins import PinRecord, ServingPins

CANDIDATES = 8  # rows fetched per decision; invalid ones are skipped
ROLLBACK_DEPTH = 100  # how far down the promotion order a rollback looks for the served model


class Reason(StrEnum):
    PINNED = "pinned"
    PROMOTED = "promoted"
    PROVISIONAL = "provisional"


@dataclass(frozen=True)
class Gate:
    dataset: str
    min_inception_score: float | None
    max_frechet_distance: float | None

    def describe(self) -> str:
        bounds = []
        if self.min_inception_score is not None:
            bounds.append(f"Inception Score >= {self.min_inception_score:g}")
        if self.max_frechet_distance is not None:
            bounds.append(f"Fréchet distance <= {self.max_frechet_distance:g}")
        return f"final {self.dataset} models" + (f" with {' and '.join(bounds)}" if bounds else "")

    def verdict(self, record: ModelRecord) -> tuple[bool, str]:
        """Whether promotion may serve this model, and why (not)."""
        if record.dataset != self.dataset:
            return False, f"trained on {record.dataset}; the service serves {self.dataset}"
        if not record.final:
            return False, "not a final model (a checkpoint of a running or stopped job)"
        scores = scores_of(record.metrics)
        inception, frechet = scores["inception_score"], scores["frechet_distance"]
        passed = []
        if self.min_inception_score is not None:
            if inception is None:
                return False, "not scored (yet)"
            if inception < self.min_inception_score:
                return False, f"Inception Score {inception:g} < {self.min_inception_score:g}"
            passed.append(f"Inception Score {inception:g} >= {self.min_inception_score:g}")
        if self.max_frechet_distance is not None:
            if frechet is None:
                return False, "not scored (yet)"
            if frechet > self.max_frechet_distance:
                return False, f"Fréchet distance {frechet:g} > {self.max_frechet_distance:g}"
            passed.append(f"Fréchet distance {frechet:g} <= {self.max_frechet_distance:g}")
        return True, "passes the gate" + (f": {', '.join(passed)}" if passed else "")


@dataclass(frozen=True)
class Choice:
    """The models to serve, in order of preference (the first valid one), and why."""

    reason: Reason
    detail: str
    candidates: list[ModelRecord]
    pin: PinRecord | None


class ServingPolicy:
    def __init__(self, records: ModelRecords, pins: ServingPins, gate: Gate) -> None:
        self.records = records
        self.pins = pins
        self.gate = gate

    def choose(self, follow_pin: bool = True, why_not_pinned: str = "") -> Choice:
        pin = self.pins.current()
        if pin is not None and pin.model_id is not None and follow_pin:
            record = self.records.get(pin.model_id)
            if record is not None:
                note = f" ({pin.note})" if pin.note else ""
                how = "rolled back to" if pin.action == "rollback" else "pinned"
                return Choice(Reason.PINNED, f"{how} by an operator{note}", [record], pin)
            why_not_pinned = f"the pinned model {pin.model_id} no longer exists; "
        gate = self.gate
        promoted = self.records.promotable(
            gate.dataset, gate.min_inception_score, gate.max_frechet_distance, CANDIDATES
        )
        if promoted:
            detail = f"the newest of the {gate.describe()}"
            return Choice(Reason.PROMOTED, why_not_pinned + detail, promoted, pin)
        detail = (f"no model passes the gate ({gate.describe()}) yet: the newest "
                  f"{gate.dataset} model, finals first, until one does")
        provisional = self.records.preferred(CANDIDATES, gate.dataset)
        return Choice(Reason.PROVISIONAL, why_not_pinned + detail, provisional, pin)

    def earlier(self, served: ModelRecord, reason: Reason) -> list[ModelRecord]:
        """The models served before ``served``, most recent first: where a rollback goes
        (the model the pin replaced; else the ones after it in the order that chose it)."""
        if reason is Reason.PINNED:
            pin = self.pins.current()
            if pin is None or pin.replaced is None or pin.replaced == served.id:
                return []
            replaced = self.records.get(pin.replaced)
            return [replaced] if replaced is not None else []
        gate = self.gate
        if reason is Reason.PROMOTED:
            order = self.records.promotable(
                gate.dataset, gate.min_inception_score, gate.max_frechet_distance,
                ROLLBACK_DEPTH,
            )
        else:
            order = self.records.preferred(ROLLBACK_DEPTH, gate.dataset)
        ids = [record.id for record in order]
        return order[ids.index(served.id) + 1 :] if served.id in ids else []
