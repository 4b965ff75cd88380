"""Hostile JSON for the readers of stored metadata: any value JSON can hold, and edits of a
valid manifest that put such values where its fields are (or take fields away)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from hypothesis import strategies as st

DELETE = object()  # an edit that removes the field

NUMBERS = st.one_of(
    st.integers(),
    st.sampled_from([-1, 0, 1, 2**31, 2**63, -(2**63) - 1, 10**12, 10**300]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e300, -0.0, 0.5, 1.0]),
)
TEXT = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["", "x", "mnist", "\ud800", "0" * 64, "a" * 5000]),
)
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, TEXT)
# the values a field is likeliest to be mistaken for: drawn as often as all the others together
MISTAKES = st.sampled_from([
    None, True, False, -5, 0, 10**12, 2**64, 10**300, 1e300, float("nan"), float("inf"),
    float("-inf"), 0.5, "", "x", "\ud800", [], {}, [1], {"a": 1},
])
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=12), children, max_size=4),
    ),
    max_leaves=12,
)


Edits = list[tuple[tuple[str, ...], Any]]


def edits(fields: Iterable[tuple[str, ...]]) -> st.SearchStrategy[Edits]:
    """One to three edits: (path of a field, its new value or DELETE)."""
    return st.lists(
        st.tuples(
            st.sampled_from(sorted(fields)),
            st.one_of(MISTAKES, st.one_of(JSON_VALUES, st.just(DELETE))),
        ),
        min_size=1,
        max_size=3,
    )


def field_paths(manifest: Mapping[str, Any]) -> list[tuple[str, ...]]:
    """Every field of ``manifest``, and of the objects in it, as a path of keys."""
    paths: list[tuple[str, ...]] = []
    for key, value in manifest.items():
        paths.append((key,))
        if isinstance(value, Mapping):
            paths.extend((key, inner) for inner in value)
    return paths


def edited(manifest: Mapping[str, Any], changes: Edits) -> Any:
    """A deep copy of ``manifest`` with ``changes`` made (a path through what an earlier change
    left not an object is skipped)."""
    data = json.loads(json.dumps(manifest))
    for path, value in changes:
        holder = data
        for key in path[:-1]:
            holder = holder.get(key) if isinstance(holder, dict) else None
        if not isinstance(holder, dict):
            continue
        if value is DELETE:
            holder.pop(path[-1], None)
        else:
            holder[path[-1]] = value
    return data


def dumps(value: Any) -> str:
    """JSON as Python writes it: NaN and Infinity included, as a careless writer would."""
    return json.dumps(value)
