"""``dcgan sweep``: start a sweep on the API from a YAML or JSON file and flags, follow it
until it ends, print its members ranked.

    dcgan sweep sweep.yaml
    dcgan sweep --base '{"iterations": 600}' --grid batch_size=32,64 --grid lr=0.0002,0.0001

Exits 0 when the sweep has run every member, 1 when it was cancelled; ``--no-follow`` prints
the sweep's id and returns at once.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, get_args

from dcgan_cli.errors import CommandError
from dcgan_cli.watch_command import DEFAULT_URL
from jobs.sweep_spec import RankBy


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("sweep", help="search job settings and rank the results")
    parser.add_argument("file", type=Path, nargs="?", help="the sweep, as YAML or JSON")
    parser.add_argument("--base", type=json.loads, help="the base job spec, as JSON")
    parser.add_argument("--grid", action="append", default=[], metavar="NAME=V1,V2",
                        help="values to try for one parameter (repeat for more)")
    parser.add_argument("--parallel", type=int, help="member jobs at once")
    parser.add_argument("--budget", type=int, help="member jobs in all")
    parser.add_argument("--rank-by", choices=get_args(RankBy))
    parser.add_argument("--score-samples", type=int,
                        help="samples each member's final model is scored on (10,000)")
    parser.add_argument("--at-end", choices=("nothing", "pin_best"))
    parser.add_argument(
        "--url", default=os.environ.get("DCGAN_API_URL", DEFAULT_URL),
        help=f"the API ($DCGAN_API_URL, else {DEFAULT_URL})",
    )
    parser.add_argument("--token", default=os.environ.get("DCGAN_API_TOKEN"),
                        help="the API's token ($DCGAN_API_TOKEN)")
    parser.add_argument("--no-follow", action="store_true", help="start it and return")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between looks")
    parser.set_defaults(run=run)


def sweep_spec(args: argparse.Namespace) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if args.file is not None:
        import yaml

        try:
            loaded = yaml.safe_load(args.file.read_text())
        except (OSError, yaml.YAMLError) as error:
            raise CommandError(f"{args.file}: {error}") from None
        if not isinstance(loaded, dict):
            raise CommandError(f"{args.file}: a sweep is a mapping (base, grid, parallel, ...)")
        spec.update(loaded)
    if args.base is not None:
        spec["base"] = args.base
    for given in args.grid:
        name, _, values = given.partition("=")
        if not name or not values:
            raise CommandError(f"--grid {given}: expected NAME=V1,V2")
        spec.setdefault("grid", {})[name] = [_value(value) for value in values.split(",")]
    for key in ("parallel", "budget", "rank_by", "score_samples", "at_end"):
        if getattr(args, key) is not None:
            spec[key] = getattr(args, key)
    return spec


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def run(args: argparse.Namespace) -> int:
    import httpx

    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    try:
        with httpx.Client(base_url=args.url.rstrip("/"), headers=headers, timeout=30) as api:
            reply = api.post("/sweeps", json=sweep_spec(args))
            if reply.status_code != 202:
                raise CommandError(f"the API refused it ({reply.status_code}): "
                                   f"{reply.json().get('detail', reply.text)}")
            sweep = reply.json()
            sys.stdout.write(f"sweep {sweep['id']}: {len(sweep['members'])} members\n")
            if args.no_follow:
                return 0
            sweep = follow(api, sweep, args.interval)
    except httpx.TransportError as error:
        raise CommandError(f"the API at {args.url} is unreachable: {error}") from None
    sys.stdout.write(table(sweep))
    return 0 if sweep["state"] == "succeeded" else 1


def follow(api: Any, sweep: dict[str, Any], interval: float) -> dict[str, Any]:
    """Poll the sweep until it ends, a line for each member whose state changes."""
    seen: dict[int, str] = {}
    names = sweep["varied"]
    while True:
        for member in sorted(sweep["members"], key=lambda row: row["member"]):
            if seen.get(member["member"]) != member["state"]:
                seen[member["member"]] = member["state"]
                values = ", ".join(f"{name}={_cell(member['params'].get(name))}"
                                   for name in names)
                sys.stdout.write(f"member {member['member']} ({values}): {member['state']}\n")
        if sweep["state"] != "running":
            return sweep
        time.sleep(interval)
        reply = api.get(f"/sweeps/{sweep['id']}")
        reply.raise_for_status()
        sweep = reply.json()


def table(sweep: dict[str, Any]) -> str:
    rank_by = sweep["spec"]["rank_by"]
    names = sweep["varied"]
    lines = [f"sweep {sweep['id']}: {sweep['state']}, ranked by {rank_by}"]
    header = ["rank", "member", *names, rank_by, "wall_s", "state", "model"]
    rows = [[str(m["rank"] or "-"), str(m["member"]),
             *(_cell(m["params"].get(name)) for name in names),
             _cell(m["score"]), _cell(m.get("wall_s")), m["state"], m["model"] or "-"]
            for m in sweep["members"]]
    lines += _aligned(header, rows)
    settings = sweep.get("settings", [])
    if any(len(group["members"]) > 1 for group in settings):  # some setting ran on many seeds
        varied = [name for name in names if name != "seed"]
        lines += ["", f"settings over their seeds, ranked by the mean {rank_by}"]
        lines += _aligned(
            ["rank", *varied, "seeds", "mean", "worst"],
            [[str(group["rank"] or "-"), *(_cell(group["params"].get(name)) for name in varied),
              ",".join(str(seed) for seed in group["seeds"]), _cell(group["mean"]),
              _cell(group["worst"])] for group in settings])
    if sweep.get("pinned"):
        lines.append(f"pinned: {sweep['pinned']}")
    return "\n".join(lines) + "\n"


def _aligned(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            for row in [header, *rows]]


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else str(value)
