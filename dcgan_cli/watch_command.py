"""``dcgan watch JOB``: a job followed live from the API's event stream, in a terminal.

A progress bar of the job's steps, and a line for each state change, checkpoint, score and
log line; reconnects where it left off when the connection drops. Exits 0 when the job
succeeds, 1 when it fails or is cancelled.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from dcgan_cli.errors import CommandError

DEFAULT_URL = "http://127.0.0.1:8000"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("watch", help="follow a training job live")
    parser.add_argument("job", help="the job's id (POST /jobs answers it)")
    parser.add_argument(
        "--url", default=os.environ.get("DCGAN_API_URL", DEFAULT_URL),
        help=f"the API ($DCGAN_API_URL, else {DEFAULT_URL})",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import httpx
    from tqdm import tqdm

    from dcgan_cli.event_source import follow

    bar = tqdm(unit="step", dynamic_ncols=True, file=sys.stderr, disable=None)
    state = "unknown"
    try:
        with httpx.Client(base_url=args.url.rstrip("/")) as client:
            for event in follow(client, f"/jobs/{args.job}/events"):
                line = describe(event.kind, event.data, bar)
                if line:
                    tqdm.write(line, file=sys.stdout)
                if event.kind == "state":
                    state = event.data["state"]
                    if state in ("succeeded", "failed", "cancelled"):
                        break
    except httpx.HTTPStatusError as error:
        raise CommandError(str(error)) from None
    except httpx.TransportError as error:
        raise CommandError(f"cannot reach the API at {args.url}: {error}") from None
    finally:
        bar.close()
    return 0 if state == "succeeded" else 1


def describe(kind: str, data: dict[str, Any], bar: Any) -> str | None:
    """The line an event prints (None: it only moves the bar)."""
    if kind == "progress":
        if isinstance(data.get("total"), int):
            bar.total = data["total"]
        if isinstance(data.get("step"), int):
            bar.n = data["step"]
            losses = {key: data[key] for key in ("d_loss", "g_loss")
                      if isinstance(data.get(key), float)}
            bar.set_postfix({key: f"{value:.3f}" for key, value in losses.items()}, refresh=False)
            bar.refresh()
        return None
    if kind == "state":
        error = f": {data['error']}" if data.get("error") else ""
        return f"state: {data['state']}{error}"
    if kind == "checkpoint":
        return f"checkpoint: {data['model']}{' (final)' if data.get('final') else ''}"
    if kind == "scored":
        scores = data.get("scores") or {}
        figures = ", ".join(f"{key} {value:.3f}" for key, value in scores.items()
                            if isinstance(value, float))
        return f"scored: {data['model']}: {figures or scores.get('error', 'no scores')}"
    if kind == "log":
        return f"{data['level'].lower()}: {data['message']}"
    return None
