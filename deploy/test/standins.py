"""Local stand-ins for the images compose names and this host cannot pull, built from Debian
packages (and moto's S3 server from PyPI for MinIO) and tagged with the names compose and the
Dockerfile use, in the test's private image store only.

Every stand-in carries the label `dcgan.deploy-test.stand-in=<the image it stands for>`; the
Debian root filesystem under them all comes from mmdebstrap and is built once, then kept."""

from __future__ import annotations

import logging
import re
import tempfile
from pathlib import Path

from build_mounts import BuildMounts
from commands import run
from podman_host import Podman

log = logging.getLogger("deploy-test.stand-ins")

HERE = Path(__file__).resolve().parent
STANDINS = HERE / "standins"
BASE = "localhost/dcgan-deploy-test/debian:bookworm"
PYTHON = "localhost/dcgan-deploy-test/python:3.11-slim-bookworm"
LABEL = "dcgan.deploy-test.stand-in"
# which stand-in answers for which image repository compose names
FOLDERS = {"redis": "redis", "postgres": "postgres", "minio/minio": "minio"}


def full_name(image: str) -> str:
    """An image reference as the engine stores it (`redis:7` -> docker.io/library/redis:7)."""
    first = image.split("/", 1)[0]
    if "/" not in image:
        return f"docker.io/library/{image}"
    if "." in first or ":" in first or first == "localhost":
        return image
    return f"docker.io/{image}"


def repository(image: str) -> str:
    return re.sub(r"^docker\.io/(library/)?", "", full_name(image)).rsplit(":", 1)[0]


def build_base(podman: Podman, rebuild: bool) -> None:
    """Debian bookworm (minbase + CA certificates) from mmdebstrap, imported once."""
    if not rebuild and podman("image", "exists", BASE, check=False, quiet=True).returncode == 0:
        log.info("%s: kept from an earlier run", BASE)
        return
    with tempfile.TemporaryDirectory(dir=podman.state) as scratch:
        tarball = Path(scratch) / "bookworm.tar"
        run(["mmdebstrap", "--variant=minbase", "--include=ca-certificates", "bookworm",
             str(tarball)], quiet=False, log_file=podman.state / "logs" / "mmdebstrap.log")
        podman("import", "--change", f"LABEL {LABEL}=debian:bookworm",
               "--change", 'CMD ["bash"]', str(tarball), BASE, quiet=True)


def build(podman: Podman, mounts: BuildMounts, folder: str, tag: str, stands_for: str,
          extra_args: list[str] | None = None) -> None:
    log.info("stand-in %s for %s", folder, stands_for)
    podman("build", "--layers", *mounts.args(), "--build-arg", f"BASE={BASE}",
           "--build-arg", f"STANDS_FOR={stands_for}", *(extra_args or []),
           "-t", tag, str(STANDINS / folder),
           quiet=True, log_file=podman.state / "logs" / f"stand-in-{folder}.log")
    label = podman.output("image", "inspect", "--format", f"{{{{index .Labels \"{LABEL}\"}}}}",
                          tag)
    if label != stands_for:
        raise RuntimeError(f"{tag} is labelled {label!r}, not as the stand-in for {stands_for}")


def build_all(podman: Podman, mounts: BuildMounts, images: list[str], moto_version: str,
              rebuild: bool = False) -> None:
    """The Debian base, the Python base for the Dockerfile, and one stand-in for each image
    in IMAGES (the images of the services compose starts)."""
    build_base(podman, rebuild)
    build(podman, mounts, "python", PYTHON, "python:3.11-slim-bookworm")
    for image in images:
        folder = FOLDERS.get(repository(image))
        if folder is None:
            raise RuntimeError(f"compose runs {image}, which has no stand-in here: add one "
                               f"under {STANDINS} and to FOLDERS in {__file__}")
        build(podman, mounts, folder, full_name(image), image,
              ["--build-arg", f"MOTO_VERSION={moto_version}"] if folder == "minio" else None)
