#!/opt/moto/bin/python
"""STAND-IN for `minio server DIR --address :PORT`: moto's S3 server behind a small WSGI layer
that does what the deployment relies on and moto does not:

- it refuses to start without MINIO_ROOT_USER (3+ characters) and MINIO_ROOT_PASSWORD (8+),
  as MinIO does, and accepts requests signed with MINIO_ROOT_USER's access key only
  (403 InvalidAccessKeyId otherwise; the signature itself is not verified);
- it keeps the buckets in DIR: a snapshot of moto's S3 state after every write, restored at
  start, so objects survive `docker compose down` / `up` as they do on MinIO's volume;
- it answers MinIO's health endpoints (/minio/health/live, /minio/health/ready).
"""

from __future__ import annotations

import argparse
import logging
import os
import pickle
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.s3.models import s3_backends
from werkzeug.serving import run_simple

log = logging.getLogger("minio-stand-in")
HEALTH = {"/minio/health/live", "/minio/health/ready", "/minio/health/cluster"}
WRITES = {"PUT", "POST", "DELETE"}
CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")
DENIED = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InvalidAccessKeyId</Code>'
    b"<Message>The Access Key Id you provided does not exist in our records.</Message></Error>"
)


class Snapshots:
    """moto's S3 state in one file of the data folder, written whole and renamed into place."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / ".stand-in-s3-state.pickle"

    def restore(self) -> None:
        if self.path.exists():
            with self.path.open("rb") as stream:
                s3_backends.update(pickle.load(stream))
            log.info("restored the buckets from %s", self.path)

    def save(self) -> None:
        partial = self.path.with_suffix(".partial")
        with partial.open("wb") as stream:
            pickle.dump(dict(s3_backends), stream, protocol=pickle.HIGHEST_PROTOCOL)
            stream.flush()
            os.fsync(stream.fileno())
        partial.replace(self.path)


class StandIn:
    def __init__(self, app: Any, access_key: str, snapshots: Snapshots) -> None:
        self.app = app
        self.access_key = access_key
        self.snapshots = snapshots
        self.writes = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        if environ.get("PATH_INFO") in HEALTH:
            start_response("200 OK", [("Content-Length", "0")])
            return [b""]
        signed = environ.get("HTTP_AUTHORIZATION", "") + " " + environ.get("QUERY_STRING", "")
        found = CREDENTIAL.search(signed.replace("X-Amz-Credential=", "Credential="))
        if not found or found.group(1) != self.access_key:
            start_response("403 Forbidden", [("Content-Type", "application/xml"),
                                             ("Content-Length", str(len(DENIED)))])
            return [DENIED]
        if environ.get("REQUEST_METHOD") not in WRITES:
            return self.app(environ, start_response)
        with self.writes:
            body = list(self.app(environ, start_response))
            self.snapshots.save()
        return body


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    parser = argparse.ArgumentParser(prog="minio")
    commands = parser.add_subparsers(dest="command", required=True)
    server = commands.add_parser("server")
    server.add_argument("folders", nargs="+")
    server.add_argument("--address", default=":9000")
    server.add_argument("--console-address", default=None)
    args = parser.parse_args()
    user = os.environ.get("MINIO_ROOT_USER", "")
    password = os.environ.get("MINIO_ROOT_PASSWORD", "")
    if len(user) < 3 or len(password) < 8:
        log.error("Unable to validate credentials: MINIO_ROOT_USER needs 3+ characters and "
                  "MINIO_ROOT_PASSWORD 8+")
        return 1
    host, _, port = args.address.rpartition(":")
    folder = Path(args.folders[0])
    folder.mkdir(parents=True, exist_ok=True)
    snapshots = Snapshots(folder)
    snapshots.restore()
    app = StandIn(DomainDispatcherApplication(create_backend_app), user, snapshots)
    log.info("STAND-IN for MinIO (moto's S3 server) on %s, data in %s", args.address, folder)
    # PID 1 of its container: without handlers SIGTERM would be ignored until SIGKILL
    for stop in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop, lambda number, frame: sys.exit(0))
    run_simple(host or "0.0.0.0", int(port), app, threaded=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
