"""What loading a hostile model archive costs: peak memory of ``load_pretrained`` on archives
of a few megabytes whose headers ask for gigabytes, against an honest archive.

    .venv/bin/python -m bench.archive_bombs [--source DIR] [--only WORDS ...]

Builds, in a temporary folder, one at a time (see :mod:`bench.hostile_archives`): an exported
tiny generator, the tutorial-size one and a wide one whose archive is near the default bound
on an archive's size, as .zip and .tar.gz (the baselines); a .tar.gz whose
first header is a 1 GiB GNU long name; one whose first header is a 1 GiB PAX record; a .zip
whose weights expand to 1 GiB, and a .tar.gz whose weights are 256 MiB, beside the tiny
generator's config.json; a .zip whose config.json declares 256 MiB of weights (and holds them,
hash and all) for the tiny generator; a gzip bomb (a .tar.gz of 1.5 GiB of zeros before the
model); a .zip listing 500,000 entries.

Each is loaded in a fresh child process that imports the package from ``--source`` (default:
this checkout; point it at a copy of an older commit to compare), and reports the peak resident
memory it reached while loading (``VmHWM`` after resetting it once torch is imported; the table
also gives it above the resident memory then), the seconds it took and what happened.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from bench import hostile_archives as hostile
from shared_models.config import GeneratorConfig
from shared_models.pretrained import write_archive
from shared_models.serving_artifact import CONFIG_FILE, WEIGHTS_FILE

REPO = Path(__file__).resolve().parent.parent
GIB = 1 << 30
MIB = 1 << 20
TINY = GeneratorConfig(nz=8, hidden=32, channels=8)
WIDE = GeneratorConfig(hidden=2048, channels=152)  # 61 MiB of weights: an archive near 64 MiB

CHILD = """
import json, sys, time
def status(key):
    with open("/proc/self/status") as lines:
        return next(int(line.split()[1]) * 1024 for line in lines if line.startswith(key))
import torch
from shared_models.pretrained import load_pretrained
try:
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # the peak so far is the imports': start counting here
    reset = True
except OSError:
    reset = False
before = status("VmRSS:")
start = time.perf_counter()
try:
    load_pretrained(sys.argv[1])
    outcome = "loaded"
except Exception as error:
    outcome = f"refused, {type(error).__name__}: {error}"
print(json.dumps({"before": before, "peak": status("VmHWM:"), "reset": reset,
                  "seconds": time.perf_counter() - start, "outcome": outcome}))
"""


def honest(kind: str, model_of: Callable[[], Path]) -> Callable[[Path, Path], None]:
    def build(path: Path, _: Path) -> None:
        model = model_of()
        write_archive({name: model / name for name in (CONFIG_FILE, WEIGHTS_FILE)}, path, kind,
                      "model")
    return build


def sized(build: Callable[[Path, Path, int], None], size: int) -> Callable[[Path, Path], None]:
    return lambda path, model: build(path, model, size)


def wide(root: Path) -> Path:
    """A generator whose archive is near the default bound (made once, when first asked)."""
    folder = root / "wide"
    return folder if folder.is_dir() else hostile.model_folder(folder, WIDE)


def cases(
    root: Path, tiny: Path, tutorial: Path
) -> dict[str, tuple[str, Callable[[Path, Path], None]]]:
    """name -> (file name, builder(path, tiny model folder))."""
    return {
        "tiny model, zip": ("tiny.zip", honest("zip", lambda: tiny)),
        "tiny model, tar.gz": ("tiny.tar.gz", honest("tar.gz", lambda: tiny)),
        "tutorial model, zip": ("tutorial.zip", honest("zip", lambda: tutorial)),
        "tutorial model, tar.gz": ("tutorial.tar.gz", honest("tar.gz", lambda: tutorial)),
        "wide model (16 M parameters), zip": ("wide.zip", honest("zip", lambda: wide(root))),
        "wide model (16 M parameters), tar.gz": (
            "wide.tar.gz", honest("tar.gz", lambda: wide(root))),
        "tar.gz, 1 GiB GNU long name": ("long-name.tar.gz", sized(hostile.long_name_tar, GIB)),
        "tar.gz, 1 GiB PAX header": ("pax.tar.gz", sized(hostile.pax_tar, GIB)),
        "zip, weights expand to 1 GiB": ("big-weights.zip", sized(hostile.big_weights_zip, GIB)),
        "tar.gz, weights expand to 256 MiB": (
            "big-weights.tar.gz", sized(hostile.big_weights_tar, 256 * MIB)),
        "zip, config.json declares 256 MiB": (
            "declared.zip", sized(hostile.declared_weights_zip, 256 * MIB)),
        "gzip bomb, 1.5 GiB of zeros": ("bomb.tar.gz", sized(hostile.filler_tar, 3 * GIB // 2)),
        "zip listing 500,000 entries": (
            "crowded.zip", lambda path, _: hostile.crowded_zip(path, 500_000)),
    }


def measure(archive: Path, source: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(source), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", CHILD, str(archive)], cwd=source, env=env,
                          capture_output=True, text=True, check=False)
    if done.returncode:
        return {"peak": 0, "seconds": 0.0, "outcome": f"child failed: {done.stderr[-300:]}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def table(rows: Iterable[tuple[str, int, dict]]) -> str:
    lines = [
        "| archive | size on disk | peak RSS while loading | above the imports | seconds "
        "| outcome |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name, size, result in rows:
        outcome = result["outcome"].replace("|", "/").replace("\n", " ")
        outcome = outcome if len(outcome) <= 150 else outcome[:147] + "..."
        above = (result["peak"] - result.get("before", 0)) / MIB
        lines.append(f"| {name} | {size / MIB:.1f} MiB | {result['peak'] / MIB:.0f} MiB | "
                     f"{above:.0f} MiB | {result['seconds']:.2f} | {outcome} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=REPO,
                        help="the checkout whose shared_models the children import")
    parser.add_argument("--only", nargs="*", help="run only the cases whose name has these words")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="archive-bombs-") as temp:
        root = Path(temp)
        tiny = hostile.model_folder(root / "tiny", TINY)
        tutorial = hostile.model_folder(root / "tutorial", GeneratorConfig())
        rows = []
        for name, (file_name, build) in cases(root, tiny, tutorial).items():
            if args.only and not any(word in name for word in args.only):
                continue
            path = root / file_name
            build(path, tiny)
            result = measure(path, args.source.resolve())
            rows.append((name, path.stat().st_size, result))
            print(f"{name}: {result['peak'] / MIB:.0f} MiB, {result['outcome'][:120]}",
                  file=sys.stderr, flush=True)
            path.unlink()  # keep at most one archive on disk at a time
            for leftover in Path(tempfile.gettempdir()).glob(".dcgan-model-*"):
                print(f"left behind by the child: {leftover}", file=sys.stderr)
        print(f"source: {args.source.resolve()}; peak: VmHWM reset after the imports "
              f"({'yes' if rows and rows[0][2].get('reset') else 'no'})")
        print(table(rows))


if __name__ == "__main__":
    main()
