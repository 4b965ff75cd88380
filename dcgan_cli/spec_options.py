"""``dcgan train``'s training options, built from the job spec: the same names, defaults,
bounds and descriptions as ``POST /jobs``, with the tutorial's --fast/--slow for ``mode``."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, get_args

from pydantic import ValidationError
from pydantic.fields import FieldInfo

from jobs.spec import MODES, JobSpec

SPECIAL = ("mode",)  # offered as --fast / --slow


def add_spec_options(parser: argparse.ArgumentParser) -> None:
    length = parser.add_mutually_exclusive_group()
    for name, field in JobSpec.model_fields.items():
        if name in SPECIAL:
            continue
        flag = "--" + name.replace("_", "-")
        group: Any = length if name == "iterations" else parser
        kinds = _kinds(field)
        help_text = _help(field)
        if bool in kinds:
            group.add_argument(flag, action="store_true", default=None, help=help_text)
        elif _choices(field):
            group.add_argument(flag, choices=_choices(field), help=help_text)
        else:
            group.add_argument(flag, type=_checked(name, kinds), help=help_text,
                               metavar=name.upper())
    for mode, iterations in MODES.items():
        length.add_argument(
            f"--{mode}", action="store_const", dest="iterations", const=iterations,
            help=f"the tutorial's {mode} mode ({iterations} iterations)",
        )


def given_options(args: argparse.Namespace) -> dict[str, Any]:
    """The spec's options the user passed (None: not given)."""
    return {
        name: getattr(args, name) for name in JobSpec.model_fields
        if name not in SPECIAL and getattr(args, name, None) is not None
    }


def _kinds(field: FieldInfo) -> tuple[type, ...]:
    annotation = field.annotation
    args = get_args(annotation)
    return tuple(kind for kind in (args or (annotation,)) if isinstance(kind, type))


def _choices(field: FieldInfo) -> list[str]:
    args = get_args(field.annotation)
    return [value for value in args if isinstance(value, str)]


def _help(field: FieldInfo) -> str:
    description = field.description or ""
    return description if "default" in description else f"{description} (default: {field.default})"


def _checked(name: str, kinds: tuple[type, ...]) -> Callable[[str], Any]:
    """Parse a number and check it against the spec's bounds, with the spec's message."""
    number: type = int if int in kinds else float

    def parse(text: str) -> Any:
        try:
            value = number(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        try:
            JobSpec.model_validate({name: value})
        except ValidationError as error:
            raise argparse.ArgumentTypeError(error.errors()[0]["msg"].lower()) from None
        return value

    parse.__name__ = number.__name__
    return parse
