"""deploy/kubernetes/: every manifest validated against Kubernetes' own schemas (strict, with
kubernetes-validate, offline), and the wiring: commands, probes, the GPU, grace periods,
settings, the secrets the README tells how to create, image tags and the kustomization."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.deploy.compose_files import CHECKPOINT_ON_SHUTDOWN_S, REPO
from tests.support.compose import duration_s

MANIFESTS = REPO / "deploy" / "kubernetes"
KUSTOMIZATION = MANIFESTS / "kustomization.yaml"
README = MANIFESTS / "README.md"
# The oldest Kubernetes these manifests are meant for, and the newest the validator knows.
KUBERNETES_VERSIONS = ("1.30", kubernetes_validate.latest_version())
# What the API and the workers need to find the shared state (as in docker-compose.yml).
STATE_SETTINGS = {
    "REDIS_URL", "DCGAN_DATABASE_URL", "DCGAN_STORE_URL", "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION",
    "DCGAN_DATA_DIR", "DCGAN_RUNS_DIR",
}
SECRET_WORDS = re.compile(r"PASSWORD|SECRET|TOKEN|ACCESS_KEY|DATABASE_URL|REDIS_URL")


def listed_files() -> list[str]:
    return yaml.safe_load(KUSTOMIZATION.read_text())["resources"]


def load_documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


@pytest.fixture(scope="module")
def resources() -> dict[tuple[str, str], dict[str, Any]]:
    """Every resource the kustomization applies, by (kind, name)."""
    found = {}
    for file in listed_files():
        for doc in load_documents(MANIFESTS / file):
            key = (doc["kind"], doc["metadata"]["name"])
            assert key not in found, key
            found[key] = doc
    return found


def pod_spec(resource: dict[str, Any]) -> dict[str, Any]:
    return resource["spec"]["template"]["spec"]


def container(resource: dict[str, Any]) -> dict[str, Any]:
    (only,) = pod_spec(resource)["containers"]
    return only


def workloads(resources: dict) -> dict[str, dict[str, Any]]:
    return {name: r for (kind, name), r in resources.items() if kind in ("Deployment", "Job")}


def env_sources(resource: dict[str, Any], resources: dict) -> dict[str, dict[str, Any]]:
    """Each variable a workload's container gets, with where it comes from (`value`,
    `secretKeyRef`, or `configMap` for an envFrom ConfigMap)."""
    found: dict[str, dict[str, Any]] = {}
    box = container(resource)
    for source in box.get("envFrom", []):
        config_map = resources[("ConfigMap", source["configMapRef"]["name"])]
        found.update({key: {"configMap": config_map["metadata"]["name"]}
                      for key in config_map["data"]})
    for variable in box.get("env", []):
        found[variable["name"]] = variable.get("valueFrom") or {"value": variable["value"]}
    return found


def project_version() -> str:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]


# --- validation -----------------------------------------------------------------------------


def test_the_validator_rejects_a_broken_deployment():
    broken = yaml.safe_load((MANIFESTS / "worker-deployment.yaml").read_text())
    broken["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[-1], strict=True)
    typo = yaml.safe_load((MANIFESTS / "worker-deployment.yaml").read_text())
    typo["spec"]["template"]["spec"]["terminationGracePeriod"] = 90
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(typo, KUBERNETES_VERSIONS[-1], strict=True)


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("file", listed_files())
def test_every_manifest_follows_the_kubernetes_schema(file, version):
    documents = load_documents(MANIFESTS / file)
    assert documents, file
    for document in documents:
        validated = kubernetes_validate.validate(document, version, strict=True)
        assert validated == kubernetes_validate.utils.major_minor(version)


def test_the_kustomization_lists_every_manifest_and_no_secret():
    listed = listed_files()
    assert len(listed) == len(set(listed))
    on_disk = {p.name for p in MANIFESTS.glob("*.yaml")} - {KUSTOMIZATION.name}
    examples = {name for name in on_disk if ".example." in name}
    assert set(listed) == on_disk - examples
    for file in listed:
        kinds = {doc["kind"] for doc in load_documents(MANIFESTS / file)}
        assert "Secret" not in kinds, f"{file}: secrets are created by hand, never applied"


def test_the_stores_are_expected_from_outside(resources):
    names = " ".join(name for _, name in resources)
    for store in ("redis", "postgres", "minio"):
        assert store not in names
    text = KUSTOMIZATION.read_text() + README.read_text()
    assert "Redis" in text and "PostgreSQL" in text and "object store" in text


# --- the images ---------------------------------------------------------------------------------


def test_every_container_runs_the_image_of_this_version(resources):
    for name, workload in workloads(resources).items():
        box = container(workload)
        assert box["image"] == f"dcgan-service:{project_version()}", name
        assert box["imagePullPolicy"] == "IfNotPresent", name
    for image in yaml.safe_load(KUSTOMIZATION.read_text()).get("images", []):
        assert image.get("newTag", project_version()) == project_version()


def test_pods_run_as_the_images_unprivileged_user(resources):
    dockerfile = (REPO / "Dockerfile").read_text()
    uid, gid = re.findall(r"^USER (\d+):(\d+)$", dockerfile, re.MULTILINE)[-1]
    for name, workload in workloads(resources).items():
        security = pod_spec(workload)["securityContext"]
        assert security["runAsNonRoot"] is True, name
        assert (security["runAsUser"], security["runAsGroup"]) == (int(uid), int(gid)), name
        assert container(workload)["securityContext"]["allowPrivilegeEscalation"] is False


# --- the API ---------------------------------------------------------------------------------


def named_port(box: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    (number,) = [p["containerPort"] for p in box["ports"] if p.get("name") == port]
    return number


def test_api_runs_dcgan_serve_and_probes_readyz_and_livez(resources):
    api = container(resources[("Deployment", "dcgan-api")])
    assert api["command"] == ["dcgan", "serve", "--host", "0.0.0.0", "--port", "8000"]
    assert named_port(api, "http") == 8000
    probes = {kind: api[kind]["httpGet"] for kind in ("readinessProbe", "livenessProbe")}
    assert probes["readinessProbe"]["path"] == "/readyz"
    assert probes["livenessProbe"]["path"] == "/livez"
    for probe in probes.values():
        assert named_port(api, probe["port"]) == 8000


def test_api_answers_to_the_host_names_it_is_reached_by_in_the_cluster(resources):
    from service.allowed_hosts import HostPatterns
    from service.settings import ServiceSettings

    deployment = resources[("Deployment", "dcgan-api")]
    api = container(deployment)
    (listed,) = [v["value"] for v in api["env"] if v["name"] == "DCGAN_ALLOWED_HOSTS"]
    hosts = HostPatterns(ServiceSettings(DCGAN_ALLOWED_HOSTS=listed).allowed_hosts)
    service = resources[("Service", "dcgan-api")]
    name, (port,) = service["metadata"]["name"], service["spec"]["ports"]
    for host in (name, f"{name}.ml.svc", f"{name}.ml.svc.cluster.local"):
        assert hosts.allows(f"{host}:{port['port']}"), host
    # the kubelet's probes send the pod's IP as Host (none sets a Host header of its own)
    for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert not api[kind]["httpGet"].get("httpHeaders"), kind
    assert hosts.allows("10.244.3.17:8000") and hosts.allows("[fd00:10:244::17]:8000")
    assert not hosts.allows("rebound.example.com:8000")


def test_api_gets_time_to_finish_requests_before_it_is_killed(resources):
    from dcgan_cli.main import build_parser

    graceful_s = build_parser().parse_args(["serve"]).graceful_timeout
    grace = pod_spec(resources[("Deployment", "dcgan-api")])["terminationGracePeriodSeconds"]
    assert grace > graceful_s


def test_the_service_reaches_the_api_pods(resources):
    deployment = resources[("Deployment", "dcgan-api")]
    service = resources[("Service", "dcgan-api")]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    (port,) = service["spec"]["ports"]
    assert named_port(container(deployment), port["targetPort"]) == 8000


# --- the workers ----------------------------------------------------------------------------


def test_each_worker_pod_trains_on_one_gpu(resources):
    worker = resources[("Deployment", "dcgan-worker")]
    box = container(worker)
    assert box["command"] == ["dcgan", "worker"]
    assert int(box["resources"]["limits"]["nvidia.com/gpu"]) == 1
    assert {"name": "DCGAN_DEVICE", "value": "cuda"} in box["env"]
    assert worker["spec"]["strategy"]["rollingUpdate"]["maxSurge"] == 0, "no spare GPU needed"


def test_worker_gets_time_to_checkpoint_before_it_is_killed(resources, config):
    grace = pod_spec(resources[("Deployment", "dcgan-worker")])["terminationGracePeriodSeconds"]
    assert grace > CHECKPOINT_ON_SHUTDOWN_S
    assert grace >= duration_s(config["services"]["worker"]["stop_grace_period"])


def test_worker_is_alive_while_its_celery_node_answers_ping(resources):
    box = container(resources[("Deployment", "dcgan-worker")])
    for kind in ("startupProbe", "livenessProbe"):
        probe = box[kind]
        assert probe["exec"]["command"] == ["dcgan", "worker-ping"], kind
        assert probe["timeoutSeconds"] < probe["periodSeconds"], kind


# --- the migration ----------------------------------------------------------------------------


def test_the_migration_job_upgrades_the_database(resources):
    job = resources[("Job", "dcgan-migrate")]
    box = container(job)
    assert box["command"] == ["dcgan", "db", "upgrade"]
    assert pod_spec(job)["restartPolicy"] in ("Never", "OnFailure")
    assert "secretKeyRef" in env_sources(job, resources)["DCGAN_DATABASE_URL"]


# --- settings and secrets ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["dcgan-api", "dcgan-worker"])
def test_api_and_workers_get_every_setting_of_the_shared_state(resources, config, name):
    sources = env_sources(resources[("Deployment", name)], resources)
    assert STATE_SETTINGS <= set(sources)
    compose_name = name.removeprefix("dcgan-")
    assert set(sources) == set(config["services"][compose_name]["environment"])


def test_secrets_come_from_secrets_and_the_rest_from_the_config_map(resources):
    for name, workload in workloads(resources).items():
        for variable, source in env_sources(workload, resources).items():
            if SECRET_WORDS.search(variable):
                assert "secretKeyRef" in source, (name, variable)
            else:
                assert "secretKeyRef" not in source, (name, variable)
    for (kind, name), resource in resources.items():
        if kind == "ConfigMap":
            assert not [k for k in resource["data"] if SECRET_WORDS.search(k)], name


def test_only_the_api_gets_the_api_token(resources):
    for name, workload in workloads(resources).items():
        has_token = "DCGAN_API_TOKEN" in env_sources(workload, resources)
        assert has_token == (name == "dcgan-api"), name


def documented_secrets(text: str) -> dict[str, set[str]]:
    """The keys of each `kubectl create secret generic NAME --from-literal=KEY=...` in TEXT
    (shell line continuations joined)."""
    found: dict[str, set[str]] = {}
    for line in text.replace("\\\n", " ").splitlines():
        command = re.match(r"\s*kubectl create secret generic (\S+)(.*)", line)
        if command:
            found[command[1]] = set(re.findall(r"--from-literal=([A-Za-z0-9_]+)=", command[2]))
    return found


def test_the_readme_parser_reads_continued_commands():
    text = (
        "kubectl create secret generic one \\\n  --from-literal=A_B='x' \\\n"
        "  --from-literal=C=\"$(y)\"\nkubectl create secret generic two --from-literal=D=z\n"
        "kubectl get secret three --from-literal=E=1\n"
    )
    assert documented_secrets(text) == {"one": {"A_B", "C"}, "two": {"D"}}


def test_every_secret_referenced_is_created_by_the_readme(resources):
    documented = documented_secrets(README.read_text())
    referenced: dict[str, set[str]] = {}
    for workload in workloads(resources).values():
        for source in env_sources(workload, resources).values():
            if "secretKeyRef" in source:
                ref = source["secretKeyRef"]
                assert ref.get("optional") is not True, ref
                referenced.setdefault(ref["name"], set()).add(ref["key"])
    assert referenced == documented


# --- scratch -------------------------------------------------------------------------------------


def test_data_and_runs_are_scratch_in_every_pod(resources):
    config_map = resources[("ConfigMap", "dcgan-config")]["data"]
    for name, workload in workloads(resources).items():
        volumes = {v["name"]: v for v in pod_spec(workload).get("volumes", [])}
        mounted = {m["mountPath"]: volumes[m["name"]] for m in container(workload)["volumeMounts"]}
        for path in (config_map["DCGAN_DATA_DIR"], config_map["DCGAN_RUNS_DIR"]):
            assert "emptyDir" in mounted[path], (name, path)


def test_the_worker_keeps_torch_compile_cache_beside_the_data(resources):
    worker = resources[("Deployment", "dcgan-worker")]
    data_dir = resources[("ConfigMap", "dcgan-config")]["data"]["DCGAN_DATA_DIR"]
    sources = env_sources(worker, resources)
    assert sources["TORCHINDUCTOR_CACHE_DIR"] == {"value": f"{data_dir}/torchinductor"}
    assert data_dir in {m["mountPath"] for m in container(worker)["volumeMounts"]}
