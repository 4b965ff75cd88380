"""The Dockerfile and .dockerignore: hadolint, and the image's shape read from the file
itself (stages, layer order, user, command, healthcheck, settings, build context)."""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.deploy.compose_files import REPO, WORKER_COMMAND
from tests.support.dockerfile import (
    Instruction,
    Stage,
    env_of,
    exec_form,
    named_stage,
    parse_stages,
    sources,
)
from tests.support.dockerignore import dockerignore_rules, excluded
from tests.support.tools import installed_tool

DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
API_COMMAND = ["dcgan", "serve", "--host", "0.0.0.0", "--port", "8000"]


def packages() -> list[str]:
    """The top-level packages pyproject.toml builds."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    include = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    return sorted(pattern.rstrip("*").rstrip(".") for pattern in include)


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse_stages(DOCKERFILE.read_text())


@pytest.fixture(scope="module")
def runtime(stages: list[Stage]) -> Stage:
    return stages[-1]


@pytest.fixture(scope="module")
def dependencies(stages: list[Stage]) -> Stage:
    return named_stage(stages, "dependencies")


@pytest.fixture(scope="module")
def wheel(stages: list[Stage]) -> Stage:
    return named_stage(stages, "wheel")


# --- hadolint --------------------------------------------------------------------------------


def hadolint(dockerfile: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """hadolint failing on every finding (style and up), JSON output; its configuration is
    the repository's .hadolint.yaml when there is one, never the developer's."""
    config = REPO / ".hadolint.yaml"
    command = [installed_tool("hadolint"), "--no-color", "--failure-threshold", "style",
               "--format", "json"]
    if config.exists():
        command += ["--config", str(config)]
    return subprocess.run(
        [*command, str(dockerfile)], capture_output=True, text=True, timeout=120, cwd=cwd,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cwd),
             "XDG_CONFIG_HOME": str(cwd)},
        check=False,
    )


def test_hadolint_finds_nothing(tmp_path):
    result = hadolint(DOCKERFILE, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout) == []


def test_hadolint_does_flag_a_careless_dockerfile(tmp_path):
    careless = tmp_path / "Dockerfile"
    careless.write_text(
        "FROM python:latest\nRUN apt-get update && apt-get install -y curl\n"
        "RUN pip install flask\nCMD python app.py\n"
    )
    result = hadolint(careless, tmp_path)
    assert result.returncode != 0
    codes = {finding["code"] for finding in json.loads(result.stdout)}
    assert {"DL3007", "DL3008", "DL3013", "DL3025"} <= codes, codes


# --- the image's shape -----------------------------------------------------------------------


def copies_code(copy: Instruction) -> bool:
    """A COPY from the build context of one of the packages pyproject.toml builds."""
    return "from" not in copy.flags() and bool(set(packages()) & set(sources(copy)))


def pip_runs(stage: Stage, command: str) -> list[Instruction]:
    return [r for r in stage.all("RUN") if re.search(rf"\bpip {command}\b", r.args)]


def test_multi_stage_build_ships_the_locked_environment_and_the_wheel(stages, runtime):
    """The runtime copies the dependencies' environment whole (a layer that changes only
    with the lock) and installs the application's wheel from the wheel stage into it."""
    assert [s.name for s in stages] == ["dependencies", "wheel", "runtime"]
    copies = [c for c in runtime.all("COPY") if "from" in c.flags()]
    assert [(c.flags()["from"], c.words()) for c in copies] == [
        ("dependencies", ["/opt/venv", "/opt/venv"])
    ]
    assert not [c for c in runtime.all("COPY") if "from" not in c.flags()], "no sources"
    (install,) = pip_runs(runtime, "install")
    assert install.flags()["mount"] == "type=bind,from=wheel,source=/wheels,target=/tmp/wheels"
    assert "pip install --no-cache-dir --no-deps --no-index /tmp/wheels/*.whl" in install.args
    assert "pip check" in install.args
    assert runtime.index(copies[0]) < runtime.index(install)


def test_the_dependencies_are_the_lock_installed_before_any_code(stages, dependencies):
    assert [c.words() for c in dependencies.all("COPY")] == [
        ["requirements.lock", "/tmp/requirements.lock"]
    ]
    (install,) = pip_runs(dependencies, "install")
    assert install.args == "pip install --no-deps --require-hashes -r /tmp/requirements.lock"
    assert dependencies.index(dependencies.all("COPY")[0]) < dependencies.index(install)
    assert not any(copies_code(c) for c in dependencies.instructions if c.keyword == "COPY")


def test_the_wheel_holds_every_package_and_builds_without_fetching(wheel):
    code_copies = [c for c in wheel.all("COPY") if copies_code(c)]
    assert {source for c in code_copies for source in sources(c)} == set(packages())
    (build,) = pip_runs(wheel, "wheel")
    assert build.args == "pip wheel --no-deps --no-build-isolation --wheel-dir /wheels ."
    assert max(wheel.index(c) for c in code_copies) < wheel.index(build)
    assert wheel.base == "dependencies", "built with the lock's setuptools"


def test_a_pip_configuration_can_be_given_and_has_no_default(dependencies, stages):
    """PIP_CONFIG_FILE (a mirror, a proxy's CA) reaches the installs only when given."""
    assert [a.args for a in dependencies.all("ARG")] == ["PIP_CONFIG_FILE"]
    assert not [a for s in stages for a in s.all("ARG") if a.args.startswith("PIP_CONFIG_FILE=")]


def test_torch_compile_finds_a_cpp_compiler(runtime):
    """Inductor compiles its CPU kernels with g++ and Triton its GPU launchers with gcc."""
    installs = " ".join(r.args for r in runtime.all("RUN"))
    assert re.search(r"apt-get install [^&]*\bg\+\+=\S+", installs)


def test_runs_as_an_unprivileged_user_that_owns_the_volumes(runtime):
    users = runtime.all("USER")
    assert users, "no USER: the container would run as root"
    user, _, group = users[-1].args.partition(":")
    assert user not in ("root", "0") and group not in ("root", "0")
    creating = " ".join(r.args for r in runtime.all("RUN"))
    account = re.search(r"useradd\b[^&;]*--uid (\d+)[^&;]* (\w+)\s*(?:&&|$)", creating)
    assert account, "the user is created in the runtime stage"
    uid, name = account.groups()
    assert user in (uid, name)
    env = env_of(runtime)
    for path in (env["DCGAN_DATA_DIR"], env["DCGAN_RUNS_DIR"]):
        assert re.search(rf"install -d -o {name} -g {name}\b[^&;]* {path}\b", creating), path
    cmd = runtime.all("CMD")[-1]
    assert runtime.index(users[-1]) < runtime.index(cmd)


def test_default_command_is_the_api_in_exec_form(runtime):
    assert exec_form(runtime.all("CMD")[-1]) == API_COMMAND
    assert not runtime.all("ENTRYPOINT"), "compose replaces the command per service"
    assert runtime.all("EXPOSE")[-1].words() == ["8000"]


def test_healthcheck_asks_the_api_whether_it_is_ready(runtime):
    (healthcheck,) = runtime.all("HEALTHCHECK")
    probe = exec_form(healthcheck)
    assert probe[0] == "python"
    assert "urlopen('http://127.0.0.1:8000/readyz'" in probe[2]
    assert "--start-period=" in healthcheck.args


def test_settings_default_to_the_volumes_and_unbuffered_output(runtime):
    env = env_of(runtime)
    assert env["DCGAN_DATA_DIR"] == "/data"
    assert env["DCGAN_RUNS_DIR"] == "/runs"
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["PATH"].startswith("/opt/venv/bin:")


def test_fashion_mnist_comes_from_debian(runtime):
    installs = " ".join(r.args for r in runtime.all("RUN"))
    assert re.search(r"apt-get install [^&]*\bdataset-fashion-mnist=\S+", installs)


def test_compose_and_image_agree(runtime):
    services = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
    env = env_of(runtime)
    assert services["api"]["command"] == exec_form(runtime.all("CMD")[-1])
    kind, command = services["api"]["healthcheck"]["test"]  # the same command, by the shell
    assert kind == "CMD-SHELL"
    assert shlex.split(command) == exec_form(runtime.all("HEALTHCHECK")[-1])
    workers = [s for s in services.values() if s.get("command") == WORKER_COMMAND]
    assert workers
    for service in [services["api"], *workers]:
        mounted = {v.split(":")[1] for v in service["volumes"]}
        assert env["DCGAN_DATA_DIR"] in mounted, service
    for worker in workers:
        assert env["DCGAN_RUNS_DIR"] in {v.split(":")[1] for v in worker["volumes"]}


# --- what the image installs -----------------------------------------------------------------


def installed_closure(requirements: list[str]) -> set[str]:
    """The distributions `pip install` brings for REQUIREMENTS (markers and extras
    evaluated here), read from what is installed in this environment."""
    found: set[str] = set()
    todo = [(Requirement(r), "") for r in requirements]
    while todo:
        requirement, extra = todo.pop()
        if requirement.marker and not requirement.marker.evaluate({"extra": extra}):
            continue
        name = canonicalize_name(requirement.name)
        extras = sorted(requirement.extras)
        if name in found and not extras:
            continue
        found.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            pytest.fail(f"{name} (required by the project) is not installed here")
        for line in requires:
            todo += [(Requirement(line), e) for e in ["", *extras]]
    return found


def imported_modules(package: Path) -> set[str]:
    """Top-level modules a package imports, lazily or not, leaving out imports guarded by
    `except ImportError` and `if TYPE_CHECKING:` blocks."""
    modules: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.Try) and any(
            isinstance(h.type, ast.Name) and h.type.id in ("ImportError", "ModuleNotFoundError")
            for h in node.handlers
        ):
            return
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return
        if isinstance(node, ast.Import):
            modules.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module.split(".")[0])
        for child in ast.iter_child_nodes(node):
            visit(child)

    for source in package.rglob("*.py"):
        visit(ast.parse(source.read_text(encoding="utf-8"), str(source)))
    return modules


@pytest.fixture(scope="module")
def image_distributions() -> set[str]:
    """What the image installs: requirements.lock, the pins that apply here."""
    from tests.deploy.test_lock import RUNTIME_LOCK, parse_lock

    return {name for name, pin in parse_lock(RUNTIME_LOCK.read_text()).items()
            if pin.applies_here()}


def test_the_image_installs_every_module_the_code_imports(image_distributions):
    own = set(packages())
    providers = metadata.packages_distributions()
    missing = {}
    for package in own:
        for module in imported_modules(REPO / package):
            if module in sys.stdlib_module_names or module in own:
                continue
            names = {canonicalize_name(d) for d in providers.get(module, [])}
            if not names & image_distributions:
                missing[module] = sorted(names) or ["<not installed>"]
    assert not missing, (
        f"imported by the code but not in pyproject.toml's dependencies: {missing}"
    )


def test_the_image_can_talk_to_the_redis_broker(image_distributions):
    """REDIS_URL=redis://... needs the redis client that kombu's redis transport imports."""
    assert {"celery", "redis"} <= image_distributions


def test_the_image_can_reach_postgresql_and_s3(image_distributions):
    """Compose and the Kubernetes manifests set DCGAN_DATABASE_URL=postgresql+psycopg://...
    (psycopg with its own libpq: the slim image has none) and DCGAN_STORE_URL=s3://...
    (s3fs); `dcgan db upgrade` runs Alembic."""
    assert {"psycopg", "psycopg-binary", "s3fs", "alembic"} <= image_distributions


def test_dependency_closure_follows_markers_and_extras():
    closure = installed_closure(["pytest>=8"])
    assert {"pytest", "pluggy", "iniconfig", "packaging"} <= closure
    assert "colorama" not in closure  # `sys_platform == "win32"` only
    assert installed_closure(['pytest; python_version < "3"']) == set()


# --- the build context -----------------------------------------------------------------------


@pytest.mark.parametrize("path", [
    ".venv/bin/python", ".git/HEAD", "data/MNIST/raw/train-images-idx3-ubyte.gz",
    "runs/quickstart/checkpoints/step_0000050.pt", ".env", "tests/conftest.py",
    ".pytest_cache/README.md", ".mypy_cache/3.11/x.json", ".ruff_cache/CACHEDIR.TAG",
    "worker/__pycache__/tasks.cpython-311.pyc", "shared_models/nets/__pycache__/g.pyc",
    "dcgan_service.egg-info/PKG-INFO", "build/lib/x.py", "dist/x.whl",
])
def test_build_context_leaves_out_local_state(path):
    assert excluded(path, dockerignore_rules(DOCKERIGNORE.read_text()))


def test_build_context_keeps_everything_the_dockerfile_copies(stages):
    rules = dockerignore_rules(DOCKERIGNORE.read_text())
    copied = [
        source for stage in stages for copy in stage.all("COPY")
        if "from" not in copy.flags() for source in sources(copy)
    ]
    assert "pyproject.toml" in copied and "README.md" in copied
    for source in copied:
        path = REPO / source
        assert path.exists(), source
        files = [path] if path.is_file() else [
            p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts
        ]
        assert files, source
        for file in files:
            assert not excluded(file.relative_to(REPO).as_posix(), rules), file
