"""The lock files: requirements-dev.lock (make setup, CI) and requirements.lock (the image)
pin every package with its hashes, agree with each other and with pyproject.toml, hold the
whole dependency tree (they are installed with --no-deps), and are what this environment
has installed."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from importlib import metadata

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.deploy.compose_files import REPO

RUNTIME_LOCK = REPO / "requirements.lock"
DEV_LOCK = REPO / "requirements-dev.lock"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


@dataclass(frozen=True)
class Pin:
    name: str
    version: str
    marker: Marker | None
    hashes: frozenset[str]

    def applies_here(self) -> bool:
        return self.marker is None or self.marker.evaluate()


def parse_lock(text: str) -> dict[str, Pin]:
    """The lock's pins by name; of a package pinned once per Python version range (a
    universal lock forks there), the pin that applies here."""
    pins: dict[str, Pin] = {}
    for entry in text.replace("\\\n", " ").splitlines():
        entry = entry.split(" #", 1)[0].strip()
        if not entry or entry.startswith("#"):
            continue
        found = re.fullmatch(r"([A-Za-z0-9._-]+)==(\S+?)(?:\s*;\s*(.*?))?((?:\s+--hash=\S+)*)",
                             entry)
        assert found, f"not a pinned requirement with hashes: {entry!r}"
        name, version, marker, hashes = found.groups()
        pin = Pin(canonicalize_name(name), version, Marker(marker) if marker else None,
                  frozenset(re.findall(r"--hash=sha256:([0-9a-f]{64})", hashes)))
        if pin.name in pins:
            assert pin.marker is not None and pins[pin.name].marker is not None, (
                f"{name} pinned twice without markers")
            if not pin.applies_here():
                continue
            assert not pins[pin.name].applies_here(), f"two pins of {name} apply here"
        pins[pin.name] = pin
    return pins


@pytest.fixture(scope="module")
def runtime() -> dict[str, Pin]:
    return parse_lock(RUNTIME_LOCK.read_text())


@pytest.fixture(scope="module")
def dev() -> dict[str, Pin]:
    return parse_lock(DEV_LOCK.read_text())


def declared(*extras: str) -> list[Requirement]:
    project = PYPROJECT["project"]
    lines = project["dependencies"] + [
        line for extra in extras for line in project["optional-dependencies"][extra]
    ]
    return [Requirement(line) for line in lines]


def test_the_parser_reads_pins_markers_and_hashes():
    pins = parse_lock(
        "# header\nfoo==1.0 ; sys_platform == 'linux' \\\n    --hash=sha256:" + "a" * 64
        + " \\\n    --hash=sha256:" + "b" * 64 + "\n    # via bar\nBar_Baz==2 \\\n"
        "    --hash=sha256:" + "c" * 64 + "\n"
    )
    assert pins["foo"].version == "1.0" and len(pins["foo"].hashes) == 2
    assert str(pins["foo"].marker) == 'sys_platform == "linux"'
    assert pins["bar-baz"].marker is None
    forked = parse_lock("x==1 ; python_version < '3.11'\nx==2 ; python_version >= '3.11'\n")
    assert forked["x"].version == "2"
    with pytest.raises(AssertionError):
        parse_lock("foo>=1\n")


@pytest.mark.parametrize("lock", [RUNTIME_LOCK, DEV_LOCK], ids=lambda p: p.name)
def test_every_package_is_pinned_with_hashes(lock):
    pins = parse_lock(lock.read_text())
    assert pins
    assert not [pin.name for pin in pins.values() if not pin.hashes]
    assert "make lock" in lock.read_text().splitlines()[1], "how to regenerate it"


def test_the_image_lock_is_the_dev_lock_without_the_dev_tools(runtime, dev):
    # the same release and files; a platform marker may be narrower in the image's lock (a dev
    # tool can need a package on a platform the image's packages do not)
    differing = {name for name, pin in runtime.items()
                 if name not in dev or (dev[name].version, dev[name].hashes) != (
                     pin.version, pin.hashes)}
    assert not differing, f"pinned differently from requirements-dev.lock: {sorted(differing)}"
    assert "pytest" in dev and "pytest" not in runtime


@pytest.mark.parametrize(("lock", "extras"), [(RUNTIME_LOCK, ("flower", "tracking")),
                                              (DEV_LOCK, ("flower", "tracking", "dev", "bench"))],
                         ids=["requirements.lock", "requirements-dev.lock"])
def test_the_lock_satisfies_what_pyproject_declares(lock, extras):
    pins = parse_lock(lock.read_text())
    for requirement in declared(*extras):
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement} is declared but not locked"
        assert requirement.specifier.contains(pins[name].version, prereleases=True), (
            f"{requirement} is declared, {pins[name].version} locked: run `make lock`"
        )


@pytest.mark.parametrize("lock", [RUNTIME_LOCK, DEV_LOCK], ids=lambda p: p.name)
def test_the_lock_holds_the_whole_dependency_tree(lock):
    """Installed with --no-deps, a lock must name every requirement of every package it
    installs here (read from the installed packages' metadata)."""
    pins = parse_lock(lock.read_text())
    missing = set()
    for pin in pins.values():
        if not pin.applies_here():
            continue
        for line in metadata.requires(pin.name) or []:
            requirement = Requirement(line)
            if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
                continue
            if canonicalize_name(requirement.name) not in pins:
                missing.add(f"{requirement.name} (for {pin.name})")
    assert not missing, f"not in {lock.name}: {sorted(missing)}"


def test_this_environment_has_the_dev_lock_installed(dev):
    """`make setup` installs requirements-dev.lock: what runs here is what is locked."""
    wrong = {}
    for pin in dev.values():
        if pin.applies_here():
            try:
                installed = metadata.version(pin.name)
            except metadata.PackageNotFoundError:
                installed = "missing"
            if installed == "missing" or Version(installed) != Version(pin.version):
                wrong[pin.name] = (pin.version, installed)
    assert not wrong, f"locked vs installed: {wrong} (run `make setup`)"


def test_the_lock_has_the_build_backend_for_builds_without_isolation(runtime, dev):
    """The image and `make setup` build the project with --no-build-isolation, so with the
    setuptools of the lock."""
    for pins in (runtime, dev):
        for line in PYPROJECT["build-system"]["requires"]:
            requirement = Requirement(line)
            pin = pins[canonicalize_name(requirement.name)]
            assert pin.marker is None and requirement.specifier.contains(pin.version)


def test_torch_is_the_release_the_project_pins(runtime):
    torch = next(r for r in declared() if r.name == "torch")
    assert str(torch.specifier) == f"=={runtime['torch'].version}"
    assert len(runtime["torch"].hashes) > 1, "one hash per platform's wheel"
