"""bench/gpu_check.sh, the GPU machine's one call, run end to end on the CPU in its smoke mode
(the tiny networks), the way that machine runs it: the repository on PYTHONPATH and none of
the service's packages importable (FastAPI, Celery, pydantic-settings are not installed
there)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import REPO

MISSING_THERE = ("fastapi", "starlette", "uvicorn", "celery", "kombu", "pydantic_settings")
BLOCKER = f"""
import sys

class NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {MISSING_THERE!r}:
            raise ImportError(f"{{name}} is not installed on this machine")
        return None

sys.meta_path.insert(0, NotInstalled())
"""
# every step of the GPU run but bfloat16's speed, which a CPU smoke run leaves out
STEPS = ("speed-float32", "speed-auto", "slow-compiled-cold", "slow-compiled-warm",
         "slow-eager-float32", "tests", "score-compiled", "score-eager-float32")


def test_the_gpu_check_runs_every_step_without_the_services_packages(tmp_path, data_dir):
    (tmp_path / "block").mkdir()
    (tmp_path / "block" / "sitecustomize.py").write_text(BLOCKER)
    out = tmp_path / "out"
    env = {**os.environ, "GPU_CHECK_SMOKE": "1", "PYTHON": sys.executable, "OUT": str(out),
           "PYTHONPATH": str(tmp_path / "block")}
    done = subprocess.run(["bash", "bench/gpu_check.sh"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = (out / "summary.txt").read_text().splitlines()
    assert [line.split()[0] for line in summary] == list(STEPS)
    assert all(" exit 0 " in line for line in summary), summary
    slow = json.loads((out / "slow-eager-float32.json").read_text())["full_run"]
    assert slow["iterations"] == 8 and slow["loop_s_after_warmup"] > 0
    scores = json.loads((out / "score-compiled.log").read_text().splitlines()[-1])
    assert scores["n"] == 500 and scores["frechet_distance"] > 0
    blocked = subprocess.run([sys.executable, "-c", "import fastapi"], env=env,
                             capture_output=True, text=True)
    assert blocked.returncode != 0  # the check really ran without them
