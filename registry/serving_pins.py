"""The serving policy's pins: which model an operator pinned, shared by every API replica.

Each pin, unpin and rollback is a new row of ``serving_pins``; the newest row is the one in
force (a NULL model: nothing pinned, promotion decides), and the rows before it are the
history. Every replica reads the newest row on each reload, so a pin reaches all of them
within a reload interval.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Engine, RowMapping, insert, select

from core.database import db_now, reading
from core.tables import serving_pins


class PinAction(StrEnum):
    PIN = "pin"
    UNPIN = "unpin"
    ROLLBACK = "rollback"


@dataclass(frozen=True)
class PinRecord:
    id: int
    model_id: str | None  # None: not pinned
    action: PinAction
    replaced: str | None  # the model this replica served when the row was written
    note: str | None
    created_at: float

    @classmethod
    def from_row(cls, row: RowMapping) -> PinRecord:
        fields = dict(row)
        fields["action"] = PinAction(fields["action"])
        return cls(**fields)


NEWEST_FIRST = (serving_pins.c.id.desc(),)


class ServingPins:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def current(self) -> PinRecord | None:
        """The pin in force: the newest row when it names a model, else None."""
        history = self.history(1)
        return history[0] if history and history[0].model_id is not None else None

    def history(self, limit: int = 20) -> list[PinRecord]:
        """Pins, unpins and rollbacks, newest first."""
        query = select(serving_pins).order_by(*NEWEST_FIRST).limit(limit)
        with reading(self.engine) as db:
            return [PinRecord.from_row(row) for row in db.execute(query).mappings()]

    def record(
        self,
        action: PinAction,
        model_id: str | None,
        replaced: str | None = None,
        note: str | None = None,
    ) -> PinRecord:
        if (model_id is None) != (action is PinAction.UNPIN):
            raise ValueError(f"a {action} row names a model exactly when it pins one")
        row = {"model_id": model_id, "action": action.value, "replaced": replaced,
               "note": note, "created_at": db_now()}
        with self.engine.begin() as db:
            written = db.execute(
                insert(serving_pins).values(**row).returning(*serving_pins.c)
            ).mappings().one()
        return PinRecord.from_row(written)
