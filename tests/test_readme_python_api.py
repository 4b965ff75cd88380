"""The README's "Python API" code block, run as written (with fewer iterations), so the
documented snippet cannot go stale."""

import re

import pytest
import torch

from shared_models import Generator
from tests.conftest import REPO

ITERATIONS = re.compile(r"\biterations=[\d_]+")


def readme_snippet() -> str:
    readme = (REPO / "README.md").read_text()
    section = readme.split("\n## Python API\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.DOTALL)
    assert len(blocks) == 1, "the Python API section holds one python code block"
    return blocks[0]


@pytest.mark.full_size  # the snippet as written trains the tutorial's networks (3 iterations)
def test_the_readme_python_api_snippet_runs(tmp_path, monkeypatch, data_dir):
    snippet = readme_snippet()
    assert len(ITERATIONS.findall(snippet)) == 1
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DCGAN_DATA_DIR", str(data_dir))
    names: dict[str, object] = {"__name__": "__readme__"}
    exec(compile(ITERATIONS.sub("iterations=3", snippet), "README.md", "exec"), names)
    assert (tmp_path / "runs" / "notebook" / "checkpoints" / "step_0000003.pt").is_file()
    assert (tmp_path / "digits.png").read_bytes().startswith(b"\x89PNG")
    assert sorted(path.name for path in (tmp_path / "my-model").iterdir()) == [
        "README.md", "config.json", "model.safetensors", "samples.png",
    ]
    generators = [value for value in names.values() if isinstance(value, Generator)]
    assert len(generators) >= 2  # the trained one and the export loaded back
    first, *others = generators
    for other in others:
        assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(),
                                                     other.state_dict().values(), strict=True))
