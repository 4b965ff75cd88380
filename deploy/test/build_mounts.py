"""What a build on this host lends to `podman build` without changing what the Dockerfile does:
the host network and, mounted read-only at /mnt (a folder every Debian image has, so no
mount point is left in a layer), a pip configuration with the host's CA bundle (for a
TLS-inspecting proxy) and the host's local package indexes and find-links. The Dockerfile's
PIP_CONFIG_FILE build argument points pip there; pip then takes torch and its CUDA
libraries from this disk instead of downloading several GB, and the lock's hashes still
decide what installs. On a host without local wheels the build downloads from PyPI as it
does for users."""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

log = logging.getLogger("deploy-test.build")

HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
MOUNTED_AT = "/mnt"
LOCATION_KEYS = ("index-url", "extra-index-url", "find-links")
PACKAGE_SUFFIXES = (".whl", ".tar.gz", ".zip")


def host_pip_locations() -> list[str]:
    """The index URLs and find-links of the host's pip configuration (files and environment)."""
    listed = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True,
        check=False,
    ).stdout
    locations: list[str] = []
    for line in listed.splitlines():
        key, _, value = line.partition("=")
        if key.rsplit(".", 1)[-1] in LOCATION_KEYS:
            locations += value.strip().strip("'\"").split()
    return locations


def local_locations(locations: list[str]) -> tuple[list[Path], list[Path]]:
    """The local indexes (`.../simple` folders, whose pages link to `../../files/...` with
    each file's hash) and the local find-links folders among LOCATIONS."""
    indexes, find_links = [], []
    for location in locations:
        path = Path(re.sub(r"^file://", "", location))
        if not path.is_absolute() or not path.is_dir():
            continue
        (indexes if path.name == "simple" else find_links).append(path)
    return sorted(set(indexes)), sorted(set(find_links))


def link_files(source: Path, target: Path) -> int:
    """Hard links (copies across file systems) to the package files of SOURCE in TARGET."""
    target.mkdir(parents=True, exist_ok=True)
    count = 0
    for package in source.iterdir():
        if package.name.endswith(PACKAGE_SUFFIXES) and not (target / package.name).exists():
            try:
                os.link(package, target / package.name)
            except OSError:
                shutil.copy2(package, target / package.name)
            count += 1
    return count


class BuildMounts:
    def __init__(self, state: Path) -> None:
        """Mirror the host's local indexes and find-links under the build root (the index
        pages copied, the package files hard-linked) at the same paths below /mnt; pip
        prefers a local index's files, which carry their hashes, to PyPI's identical ones."""
        self.root = state / "build-root"
        indexes, find_links = local_locations(host_pip_locations())
        for index in indexes:
            mirror = self.root / index.relative_to("/")
            shutil.rmtree(mirror, ignore_errors=True)
            shutil.copytree(index, mirror)
            files = index.parent / "files"
            if files.is_dir():
                link_files(files, mirror.parent / "files")
        for folder in find_links:
            link_files(folder, self.root / folder.relative_to("/"))
        lines = ["[global]"]
        if indexes:
            lines.append("extra-index-url = " + " ".join(
                f"file://{MOUNTED_AT}{index}" for index in indexes))
        if find_links:
            lines.append("find-links = " + " ".join(f"{MOUNTED_AT}{f}" for f in find_links))
        if HOST_CA_BUNDLE.exists():
            shutil.copyfile(HOST_CA_BUNDLE, self.root / "ca.crt")
            lines.append(f"cert = {MOUNTED_AT}/ca.crt")
        (self.root / "pip.conf").write_text("\n".join(lines) + "\n")
        if indexes or find_links:
            log.info("builds take packages from this disk's %s before PyPI",
                     ", ".join(map(str, indexes + find_links)))

    def args(self) -> list[str]:
        """`podman build` arguments."""
        return ["--network", "host", "-v", f"{self.root}:{MOUNTED_AT}:ro",
                "--build-arg", f"PIP_CONFIG_FILE={MOUNTED_AT}/pip.conf"]
