#!/usr/bin/python3
"""STAND-IN for MinIO's client, only `mc ready ALIAS`: exit 0 when the server of this container
answers MinIO's readiness endpoint (the alias `local` is this container, as in MinIO's image)."""

import sys
import urllib.request

if sys.argv[1:] != ["ready", "local"]:
    sys.exit(f"stand-in mc: only `mc ready local` is provided, not {sys.argv[1:]}")
try:
    with urllib.request.urlopen("http://127.0.0.1:9000/minio/health/ready", timeout=4) as reply:
        ready = reply.status == 200
except OSError as error:
    sys.exit(f"The cluster is unreachable: {error}")
sys.stdout.write("The cluster is ready\n" if ready else "The cluster is not ready\n")
sys.exit(0 if ready else 1)
