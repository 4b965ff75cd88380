"""The Dockerfile reader: continuations, comments, flags, stages, exec forms and ENV."""

from __future__ import annotations

import json

import pytest

from tests.support.dockerfile import (
    Instruction,
    Stage,
    env_of,
    exec_form,
    named_stage,
    parse_instructions,
    parse_stages,
    sources,
)

DOCKERFILE = """\
# syntax=docker/dockerfile:1
ARG BASE=python:3.11-slim
FROM --platform=$BUILDPLATFORM ${BASE} AS build
# a comment between instructions
RUN --mount=type=cache,target=/root/.cache \\
    # a comment inside a continuation
    pip wheel --wheel-dir /wheels . \\
    && ls /wheels

copy --chown=app:app ./src/ requirements.txt /app/
FROM python:3.11-slim as runtime
COPY --from=build /wheels /wheels
ENV A=1 B="two words"
ENV A=3
HEALTHCHECK --interval=30s --timeout=3s CMD ["python", "-c", "print(1)"]
CMD ["app", "--port", "8000"]
"""

RUN = Instruction(
    "RUN",
    "--mount=type=cache,target=/root/.cache pip wheel --wheel-dir /wheels . && ls /wheels",
    5,
)
COPY_SOURCES = Instruction("COPY", "--chown=app:app ./src/ requirements.txt /app/", 10)
COPY_WHEELS = Instruction("COPY", "--from=build /wheels /wheels", 12)
HEALTHCHECK = Instruction(
    "HEALTHCHECK", '--interval=30s --timeout=3s CMD ["python", "-c", "print(1)"]', 15
)
CMD = Instruction("CMD", '["app", "--port", "8000"]', 16)


def test_instructions_join_continuations_and_leave_out_comments():
    assert parse_instructions(DOCKERFILE) == [
        Instruction("ARG", "BASE=python:3.11-slim", 2),
        Instruction("FROM", "--platform=$BUILDPLATFORM ${BASE} AS build", 3),
        RUN,
        COPY_SOURCES,
        Instruction("FROM", "python:3.11-slim as runtime", 11),
        COPY_WHEELS,
        Instruction("ENV", 'A=1 B="two words"', 13),
        Instruction("ENV", "A=3", 14),
        HEALTHCHECK,
        CMD,
    ]


def test_a_file_cannot_end_inside_a_continuation():
    with pytest.raises(AssertionError, match="continuation"):
        parse_instructions("FROM scratch\nRUN true \\\n")


def test_each_from_starts_a_stage_with_the_instructions_after_it():
    assert parse_stages(DOCKERFILE) == [
        Stage("${BASE}", "build", [RUN, COPY_SOURCES]),
        Stage("python:3.11-slim", "runtime", [
            COPY_WHEELS,
            Instruction("ENV", 'A=1 B="two words"', 13),
            Instruction("ENV", "A=3", 14),
            HEALTHCHECK,
            CMD,
        ]),
    ]
    assert parse_stages("FROM scratch\nCOPY a /a\n") == [
        Stage("scratch", None, [Instruction("COPY", "a /a", 2)])
    ]


def test_stages_are_found_by_name_and_searched_by_keyword():
    stages = parse_stages(DOCKERFILE)
    runtime = named_stage(stages, "runtime")
    assert runtime is stages[1]
    assert runtime.all("ENV") == [Instruction("ENV", 'A=1 B="two words"', 13),
                                  Instruction("ENV", "A=3", 14)]
    assert runtime.all("USER") == []
    assert runtime.index(CMD) == 4
    with pytest.raises(AssertionError):
        named_stage(stages, "wheel")


def test_flags_are_only_the_leading_double_dash_words():
    assert RUN.flags() == {"mount": "type=cache,target=/root/.cache"}
    assert Instruction("COPY", "--link --from=build /a /b", 1).flags() == {
        "link": "", "from": "build"
    }
    assert Instruction("RUN", "echo --not-a-flag=1", 1).flags() == {}


def test_words_are_the_arguments_after_the_flags_split_as_the_shell_would():
    assert COPY_WHEELS.words() == ["/wheels", "/wheels"]
    assert Instruction("RUN", "--network=none echo 'a b' c", 1).words() == ["echo", "a b", "c"]


def test_exec_form_reads_cmd_and_healthcheck_arrays_and_refuses_the_shell_form():
    assert exec_form(CMD) == ["app", "--port", "8000"]
    assert exec_form(HEALTHCHECK) == ["python", "-c", "print(1)"]
    with pytest.raises(json.JSONDecodeError):
        exec_form(Instruction("CMD", "app --port 8000", 1))
    with pytest.raises(AssertionError):
        exec_form(Instruction("CMD", '["app", 8000]', 1))


def test_env_holds_the_last_value_of_each_variable():
    assert env_of(named_stage(parse_stages(DOCKERFILE), "runtime")) == {
        "A": "3", "B": "two words"
    }
    with pytest.raises(AssertionError, match="legacy"):
        env_of(Stage("scratch", None, [Instruction("ENV", "A 1", 2)]))


def test_copy_sources_are_relative_to_the_build_context():
    assert sources(COPY_SOURCES) == ["src", "requirements.txt"]
    copy = Instruction("COPY", "pyproject.toml ./README.md ./", 1)
    assert sources(copy) == ["pyproject.toml", "README.md"]
