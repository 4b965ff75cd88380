"""``dcgan models import PATH``: a model trained elsewhere, brought into a running service.

PATH is an export archive (``GET /models/{id}/export``), an exported model folder (``dcgan
export``), a run folder (its newest checkpoint) or a checkpoint file; all but an archive are
packed into one first (the serving artifact, and an exported folder's model card). The service
checks it, keeps it (or finds the model with the same weights) and scores it.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from dcgan_cli.errors import CommandError
from dcgan_cli.watch_command import DEFAULT_URL

if TYPE_CHECKING:
    import httpx

MEDIA_TYPES = {"zip": "application/zip", "tar.gz": "application/gzip"}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("models", help="manage the service's models")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    bring = actions.add_parser("import", help="bring a model trained elsewhere into the service")
    bring.add_argument(
        "path", type=Path, metavar="PATH",
        help="an export archive or folder, a run folder or a checkpoint file",
    )
    bring.add_argument(
        "--url", default=os.environ.get("DCGAN_API_URL", DEFAULT_URL),
        help=f"the API ($DCGAN_API_URL, else {DEFAULT_URL})",
    )
    bring.add_argument("--token", default=os.environ.get("DCGAN_API_TOKEN"),
                       help="the API's token ($DCGAN_API_TOKEN)")
    bring.add_argument("--source", default=None,
                       help="where it came from, kept with the model (default: PATH)")
    bring.set_defaults(run=run_import)


def run_import(args: argparse.Namespace) -> int:
    import httpx

    from shared_models.pretrained import archive_format

    path: Path = args.path
    if not path.exists():
        raise CommandError(f"{path}: no such file or folder")
    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    with tempfile.TemporaryDirectory(prefix=".dcgan-import-") as temp:
        kind = archive_format(path)
        archive = path if kind is not None else packed(path, Path(temp))
        headers["Content-Type"] = MEDIA_TYPES[kind or "zip"]
        try:
            reply = httpx.post(
                f"{args.url.rstrip('/')}/models", content=archive.read_bytes(), headers=headers,
                params={"source": args.source or str(path)}, timeout=120,
            )
        except httpx.TransportError as error:
            raise CommandError(f"the API at {args.url} is unreachable: {error}") from None
    if reply.status_code not in (200, 201):
        raise CommandError(f"the API refused it ({reply.status_code}): {detail(reply)}")
    model = reply.json()
    how = "imported as" if reply.status_code == 201 else "already there as"
    sys.stdout.write(f"{path}: {how} {model['id']} (weights sha256 {model['sha256']})\n")
    return 0


def packed(path: Path, temp: Path) -> Path:
    """``path``'s serving artifact (and model card, for an exported folder), packed into a zip
    in ``temp``."""
    from shared_models.export import write_artifact  # deferred: torch
    from shared_models.model_card import CARD_FILE
    from shared_models.pretrained import write_archive
    from shared_models.serving_artifact import CONFIG_FILE, WEIGHTS_FILE

    folder = temp / "model"
    write_artifact(path, folder)
    files = {name: folder / name for name in (CONFIG_FILE, WEIGHTS_FILE)}
    if (path / CARD_FILE).is_file():
        files[CARD_FILE] = path / CARD_FILE
    return write_archive(files, temp / "model.zip", "zip", root="model")


def detail(reply: httpx.Response) -> str:
    try:
        return str(reply.json()["detail"])
    except (ValueError, KeyError, TypeError):
        return reply.text[:300]
