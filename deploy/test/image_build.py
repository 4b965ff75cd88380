"""The project's image, built with its real Dockerfile: the Python base is the stand-in, given
through the PYTHON_IMAGE argument; nothing else differs from a user's build.

The dependencies stage (the ~5.5 GB virtual environment) is tagged as a cache so that pruning
the images earlier runs left keeps it: the next run rebuilds only what changed."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from build_mounts import BuildMounts
from podman_host import Podman

log = logging.getLogger("deploy-test.image")
REPO = Path(__file__).resolve().parents[2]
DEPENDENCIES_CACHE = "localhost/dcgan-deploy-test/build-cache:dependencies"
# a cold build holds the dependencies layer, the runtime's copy of it and, while committing,
# one more copy
FREE_GB_NEEDED = 25


def check_free_space(podman: Podman) -> None:
    free_gb = shutil.disk_usage(podman.state).free / 1e9
    cached = podman("image", "exists", DEPENDENCIES_CACHE, check=False, quiet=True).returncode == 0
    log.info("%.0f GB free on the disk of %s%s", free_gb, podman.state,
             " (an earlier build's dependencies layer is cached)" if cached else "")
    if not cached and free_gb < FREE_GB_NEEDED:
        raise RuntimeError(f"only {free_gb:.0f} GB free for the image build, which needs about "
                           f"{FREE_GB_NEEDED} GB the first time")


def build_image(podman: Podman, mounts: BuildMounts, tag: str, python_image: str) -> None:
    check_free_space(podman)
    common = [
        "--layers", "--force-rm",
        # Docker's image format: the OCI format has no HEALTHCHECK
        "--format", "docker",
        *mounts.args(), "--build-arg", f"PYTHON_IMAGE={python_image}",
        "-f", str(REPO / "Dockerfile"),
    ]
    logs = podman.state / "logs"
    log.info("building %s from %s (log: %s)", tag, REPO / "Dockerfile", logs / "image-build.log")
    podman("build", *common, "--target", "dependencies", "-t", DEPENDENCIES_CACHE, str(REPO),
           log_file=logs / "image-build-dependencies.log")
    podman("build", *common, "-t", tag, str(REPO), log_file=logs / "image-build.log")
    size = podman.output("image", "inspect", "--format", "{{.Size}}", tag)
    log.info("%s: %.1f GB", tag, int(size) / 1e9)
    podman("image", "prune", "--force", quiet=True)
