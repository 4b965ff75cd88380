"""Reading a Dockerfile as the builder does: instructions with their continuation lines joined
and comments left out, grouped into the stages each FROM starts."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case
    args: str  # continuation lines joined
    line: int

    def flags(self) -> dict[str, str]:
        """Leading --name=value flags (COPY --from=..., RUN --mount=...)."""
        found = {}
        for word in self.args.split():
            if not word.startswith("--"):
                break
            name, _, value = word[2:].partition("=")
            found[name] = value
        return found

    def words(self) -> list[str]:
        """The arguments after the flags, split as the shell would."""
        words = shlex.split(self.args)
        while words and words[0].startswith("--"):
            words.pop(0)
        return words


@dataclass(frozen=True)
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction]

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def index(self, instruction: Instruction) -> int:
        return self.instructions.index(instruction)


def parse_instructions(text: str) -> list[Instruction]:
    """Every instruction of a Dockerfile, numbered by the line it starts on."""
    instructions: list[Instruction] = []
    parts: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue  # comments and blank lines, also inside continuations
        if not parts:
            start = number
        if line.endswith("\\"):
            parts.append(line[:-1].strip())
            continue
        parts.append(line)
        keyword, _, args = " ".join(parts).partition(" ")
        instructions.append(Instruction(keyword.upper(), args.strip(), start))
        parts = []
    assert not parts, "the Dockerfile ends inside a line continuation"
    return instructions


def parse_stages(text: str) -> list[Stage]:
    """The build stages in order, each with the instructions after its FROM (anything
    before the first FROM is left out)."""
    stages: list[Stage] = []
    for instruction in parse_instructions(text):
        if instruction.keyword == "FROM":
            words = instruction.words()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], name, []))
        elif stages:
            stages[-1].instructions.append(instruction)
    return stages


def named_stage(stages: list[Stage], name: str) -> Stage:
    """The stage called NAME (`FROM ... AS NAME`)."""
    named = {stage.name: stage for stage in stages}
    assert name in named, [stage.name for stage in stages]
    return named[name]


def exec_form(instruction: Instruction) -> list[str]:
    """The JSON array of an exec-form CMD/ENTRYPOINT (fails for the shell form)."""
    args = instruction.args
    if instruction.keyword == "HEALTHCHECK":
        args = re.sub(r"^(--\S+\s+)*CMD\s+", "", args)
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), args
    return value


def env_of(stage: Stage) -> dict[str, str]:
    """The variables a stage's ENV instructions set, later ones winning."""
    env: dict[str, str] = {}
    for instruction in stage.all("ENV"):
        for pair in shlex.split(instruction.args):
            key, sep, value = pair.partition("=")
            assert sep, f"ENV {key} without '=' (the legacy form)"
            env[key] = value
    return env


def sources(copy: Instruction) -> list[str]:
    """What a COPY takes from the build context, as paths relative to it."""
    return [s.removeprefix("./").rstrip("/") for s in copy.words()[:-1]]
