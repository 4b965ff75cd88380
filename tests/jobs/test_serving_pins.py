"""Pins on SQLite and PostgreSQL: the newest row is in force, the others are the history."""

from __future__ import annotations

import pytest

from registry.serving_pins import PinAction, ServingPins


def test_the_newest_row_is_the_pin_in_force(engine):
    pins = ServingPins(engine)
    assert pins.current() is None and pins.history() == []
    first = pins.record(PinAction.PIN, "a:10", replaced="b:20", note="b draws smudges")
    assert pins.current() == first and first.action is PinAction.PIN
    assert first.replaced == "b:20" and first.note == "b draws smudges" and first.created_at > 0
    second = pins.record(PinAction.ROLLBACK, "c:5", replaced="a:10")
    assert pins.current() == second
    unpinned = pins.record(PinAction.UNPIN, None, replaced="c:5")
    assert pins.current() is None
    assert pins.history() == [unpinned, second, first]
    assert pins.history(2) == [unpinned, second]


def test_only_an_unpin_names_no_model(engine):
    pins = ServingPins(engine)
    with pytest.raises(ValueError):
        pins.record(PinAction.PIN, None)
    with pytest.raises(ValueError):
        pins.record(PinAction.UNPIN, "a:1")
