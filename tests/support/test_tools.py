"""Finding the dev extra's commands."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.support.tools import installed_tool


def test_a_tool_beside_the_interpreter_is_found_there():
    assert installed_tool("docker-compose") == str(Path(sys.executable).with_name(
        "docker-compose"))


def test_a_tool_found_nowhere_fails_with_how_to_install_it(monkeypatch):
    monkeypatch.setenv("PATH", "")
    with pytest.raises(AssertionError, match=r"pip install -e '\.\[dev\]'"):
        installed_tool("no-such-tool-anywhere")
