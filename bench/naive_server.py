"""The yardstick endpoint: GET /generate served the plain way, one forward pass per request.

A minimal FastAPI app on one checkpoint (loaded once, with
``shared_models.generator_io.load_generator``, keeping PyTorch's plain layers): each request
runs ``bench.naive.naive_render`` — the generator's eager forward on that request's noise rows
under ``torch.no_grad()``, uint8, a ``make_grid`` layout, PNG through PIL — in FastAPI's
threadpool (a plain ``def`` route). No batching, no fixed-size blocks, no bound on concurrent
renders.

    .venv/bin/python -m bench.naive_server --checkpoint runs/JOB/checkpoints/step_0000500.pt \
        [--host 127.0.0.1] [--port 8001]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Annotated

import torch
from fastapi import FastAPI, Query, Response

from bench.naive import naive_render
from shared_models.config import MAX_SAMPLES, MAX_SEED
from shared_models.generator_io import load_generator


def create_app(checkpoint: Path) -> FastAPI:
    generator, manifest = load_generator(checkpoint, fast_layers=False)
    app = FastAPI(title="naive /generate")

    @app.get("/generate", response_class=Response)
    def generate(
        n: Annotated[int, Query(ge=1, le=MAX_SAMPLES)] = 64,
        seed: Annotated[int, Query(ge=0, le=MAX_SEED)] = 0,
        nrow: Annotated[int, Query(ge=1, le=MAX_SAMPLES)] = 8,
        padding: Annotated[int, Query(ge=0, le=32)] = 2,
    ) -> Response:
        with torch.no_grad():
            png = naive_render(generator, n, nrow, padding, seed)
        return Response(png, media_type="image/png", headers={"X-Seed": str(seed)})

    @app.get("/livez")
    def livez() -> dict[str, str]:
        return {"status": "ok", "model": f"{manifest.run_dir.name}:{manifest.step}"}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, required=True, help="a checkpoint .pt file")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8001, help="port (8001)")
    args = parser.parse_args()

    import uvicorn

    uvicorn.run(create_app(args.checkpoint), host=args.host, port=args.port)  # defaults


if __name__ == "__main__":
    main()
