"""deploy/k8s, checked without a cluster: valid manifests (the Kubernetes API's own schemas),
each Deployment wired as its service's code expects, autoscalers within the partitions,
every reference resolved; the overlays rendered with `kubectl kustomize` where it exists."""

from __future__ import annotations

import copy
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from cxloop_shared.settings import ServiceSettings

from tests.deploy.deploy_support import (
    BY_NAME,
    K8S,
    NON_ROOT_UID,
    SERVICES,
    env_file,
    environment_problems,
)
from tests.deploy.manifests import (
    autoscaler_problems,
    container_environment,
    deployment_problems,
    documents,
    generated_configmaps,
    kubectl,
    kustomization,
    kustomization_dirs,
    named_port,
    pod_spec,
    render,
    resource_documents,
    security_problems,
)

BASE = K8S / "base"
OVERLAYS = ["dev", "production"]
KINDS = {
    "Namespace",
    "ConfigMap",
    "Secret",
    "Deployment",
    "StatefulSet",
    "Service",
    "Job",
    "PodDisruptionBudget",
    "HorizontalPodAutoscaler",
    "Ingress",
}
# The oldest Kubernetes the manifests are written for, and the newest the schemas know.
KUBERNETES_VERSIONS = ["1.30.0", kubernetes_validate.latest_version()]
SHARED_SETTINGS = {"CXLOOP_" + name.upper() for name in ServiceSettings.model_fields}


def by_kind(resources: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {r["metadata"]["name"]: r for r in resources if r["kind"] == kind}


def containers(resource: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    spec = pod_spec(resource)
    yield from spec.get("initContainers", [])
    yield from spec["containers"]


def manifest_files() -> list[Path]:
    return sorted(p for p in K8S.rglob("*.yaml") if p.name != "kustomization.yaml")


@pytest.fixture(scope="module")
def base() -> list[dict[str, Any]]:
    return resource_documents(BASE)


@pytest.fixture(scope="module")
def base_configmaps() -> dict[str, dict[str, str]]:
    return generated_configmaps(BASE)


@pytest.mark.parametrize("path", manifest_files(), ids=lambda p: str(p.relative_to(K8S)))
def test_every_manifest_is_valid_for_the_kubernetes_api(path: Path) -> None:
    for resource in documents(path):
        assert resource["kind"] in KINDS
        assert resource["metadata"]["name"]
        for version in KUBERNETES_VERSIONS:
            kubernetes_validate.validate(resource, version, strict=True)


def test_an_invalid_manifest_is_refused(base: list[dict[str, Any]]) -> None:
    deployment = copy.deepcopy(by_kind(base, "Deployment")["ingest"])
    pod_spec(deployment)["containers"][0]["readinessProbe"]["httpGet"]["paht"] = "/readyz"

    with pytest.raises(kubernetes_validate.ValidationError, match="paht"):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[0], strict=True)


@pytest.mark.parametrize("directory", kustomization_dirs(), ids=lambda p: str(p.relative_to(K8S)))
def test_each_kustomization_lists_files_that_exist_and_every_manifest_beside_it(
    directory: Path,
) -> None:
    found = kustomization(directory)
    listed = [directory / entry for entry in found.get("resources", [])]
    for generator in found.get("configMapGenerator", []) + found.get("secretGenerator", []):
        listed += [directory / f for f in generator.get("files", []) + generator.get("envs", [])]
    listed += [directory / patch["path"] for patch in found.get("patches", []) if "path" in patch]
    # The production secrets never enter git: their template does, and git ignores them.
    kept_out = directory / "secrets.env"
    if kept_out in listed:
        listed.remove(kept_out)
        assert (BASE / "secrets.example.env").is_file()
        assert "secrets.env" in (directory / ".gitignore").read_text().splitlines()

    assert [p for p in listed if not (p.is_file() or (p / "kustomization.yaml").is_file())] == []
    beside = {p for p in directory.glob("*.yaml") if p.name != "kustomization.yaml"}
    assert beside <= {p.resolve() for p in listed}


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_each_deployment_runs_its_service_as_its_code_expects(
    service: Any, base: list[dict[str, Any]], base_configmaps: dict[str, dict[str, str]]
) -> None:
    deployment = by_kind(base, "Deployment")[service.name]
    autoscaled = service.name in by_kind(base, "HorizontalPodAutoscaler")

    assert (
        deployment_problems(service, deployment, base_configmaps, has_autoscaler=autoscaled) == []
    )
    assert container_environment(pod_spec(deployment)["containers"][0], base_configmaps)
    assert pod_spec(deployment)["securityContext"]["runAsUser"] == NON_ROOT_UID


def _set(resource: dict[str, Any], path: str, value: object) -> None:
    target: Any = resource
    *parents, last = path.split("/")
    for key in parents:
        target = target[int(key)] if isinstance(target, list) else target[key]
    if isinstance(target, list):
        target.append(value)
    else:
        target[last] = value


@pytest.mark.parametrize(
    ("path", "value", "problem"),
    [
        (
            "spec/template/spec/containers/0/env/-",
            {"name": "CXLOOP_ADMIN_TOKEN", "value": "x"},
            "CXLOOP_ADMIN_TOKEN is not a setting of ingest",
        ),
        (
            "spec/template/spec/containers/0/env/-",
            {"name": "CXLOOP_MAX_BATCH_EVENTS", "value": "x"},
            "refuses its settings",
        ),
        ("spec/template/spec/containers/0/ports/0/containerPort", 8000, "container ports [8000]"),
        (
            "spec/template/spec/containers/0/readinessProbe/httpGet/path",
            "/healthz",
            "readinessProbe",
        ),
        ("spec/template/spec/containers/0/livenessProbe/httpGet/port", 8002, "livenessProbe"),
        ("spec/template/spec/terminationGracePeriodSeconds", 30, "terminationGracePeriodSeconds"),
        (
            "spec/template/spec/containers/0/securityContext/readOnlyRootFilesystem",
            False,
            "root filesystem is writable",
        ),
        ("spec/template/spec/containers/0/resources", {}, "resources.requests"),
        ("spec/replicas", 3, "autoscaler owns the count"),
    ],
    ids=lambda value: value if isinstance(value, str) and " " not in value else None,
)
def test_a_deployment_that_strays_is_caught(
    base: list[dict[str, Any]],
    base_configmaps: dict[str, dict[str, str]],
    path: str,
    value: object,
    problem: str,
) -> None:
    deployment = copy.deepcopy(by_kind(base, "Deployment")["ingest"])
    _set(deployment, path, value)

    problems = deployment_problems(
        BY_NAME["ingest"], deployment, base_configmaps, has_autoscaler=True
    )

    assert any(problem in found for found in problems), problems


def test_services_route_to_each_deployments_port(base: list[dict[str, Any]]) -> None:
    deployments = by_kind(base, "Deployment")
    for service in SERVICES:
        routed = by_kind(base, "Service")[service.name]["spec"]
        pod = deployments[service.name]["spec"]["template"]
        container = pod["spec"]["containers"][0]

        assert routed["selector"].items() <= pod["metadata"]["labels"].items()
        assert [p["port"] for p in routed["ports"]] == [service.port]
        assert named_port(container, routed["ports"][0]["targetPort"]) == service.port


def test_the_ingresses_open_ingest_and_the_gateway_only(base: list[dict[str, Any]]) -> None:
    services = by_kind(base, "Service")
    backends = set()
    for ingress in by_kind(base, "Ingress").values():
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                ports = services[backend["name"]]["spec"]["ports"]
                assert backend["port"] in [{"name": p["name"]} for p in ports] + [
                    {"number": p["port"]} for p in ports
                ]
                backends.add(backend["name"])

    assert backends == {"ingest", "gateway"}


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_autoscalers_stay_within_the_partitions_their_service_reads(
    service: Any, base: list[dict[str, Any]]
) -> None:
    autoscaler = by_kind(base, "HorizontalPodAutoscaler")[service.name]

    assert autoscaler_problems(service, autoscaler) == []


def test_an_autoscaler_past_the_partitions_is_caught(base: list[dict[str, Any]]) -> None:
    autoscaler = copy.deepcopy(by_kind(base, "HorizontalPodAutoscaler")["dispatch"])
    autoscaler["spec"]["maxReplicas"] = 13

    problems = autoscaler_problems(BY_NAME["dispatch"], autoscaler)

    assert problems
    assert "exceeds 12" in problems[0]


def test_each_disruption_budget_covers_one_deployment(base: list[dict[str, Any]]) -> None:
    deployments = by_kind(base, "Deployment")
    for name, budget in by_kind(base, "PodDisruptionBudget").items():
        labels = deployments[name]["spec"]["template"]["metadata"]["labels"]

        assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
        assert budget["spec"]["maxUnavailable"] == 1
    assert set(by_kind(base, "PodDisruptionBudget")) == {s.name for s in SERVICES}


def test_the_migration_job_migrates_every_service(
    base: list[dict[str, Any]], base_configmaps: dict[str, dict[str, str]]
) -> None:
    job = by_kind(base, "Job")["cxloop-migrate"]
    migrated = []
    for container in containers(job):
        service = BY_NAME[container["name"]]
        where = f"Job cxloop-migrate {service.name}"

        assert container["image"] == f"cxloop-{service.name}"
        assert container["args"] == ["migrate"]
        environment = container_environment(container, base_configmaps)
        assert environment_problems(service, environment, where=where) == []
        assert security_problems(where, pod_spec(job), container) == []
        migrated.append(service.name)

    assert migrated[0] == "gateway"  # the others read its configuration and keys
    assert sorted(migrated) == sorted(s.name for s in SERVICES)
    assert pod_spec(job)["restartPolicy"] == "Never"


def test_the_topic_job_runs_the_shared_topic_script(
    base: list[dict[str, Any]], base_configmaps: dict[str, dict[str, str]]
) -> None:
    job = by_kind(base, "Job")["cxloop-topics"]
    container = pod_spec(job)["containers"][0]
    volumes = {v["name"]: v for v in pod_spec(job)["volumes"]}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    script = volumes["script"]["configMap"]["name"]

    assert container["image"] == "apache/kafka:4.1.1"
    assert container["command"] == ["bash", f"{mounts['script']}/create-topics.sh"]
    assert "create-topics.sh" in base_configmaps[script]
    assert (
        container_environment(container, base_configmaps)["BOOTSTRAP_SERVERS"]
        == (base_configmaps["cxloop-config"]["CXLOOP_KAFKA_BOOTSTRAP_SERVERS"])
    )
    assert security_problems("Job cxloop-topics", pod_spec(job), container) == []


def test_every_configmap_and_secret_a_pod_names_exists(
    base: list[dict[str, Any]], base_configmaps: dict[str, dict[str, str]]
) -> None:
    secrets = {
        g["name"]: {k for env in g["envs"] for k in env_file(BASE / env)}
        for g in kustomization(BASE)["secretGenerator"]
    }
    assert reference_problems(base, base_configmaps, secrets) == []


def reference_problems(
    resources: list[dict[str, Any]],
    configmaps: Mapping[str, Mapping[str, str]],
    secrets: Mapping[str, set[str]],
) -> list[str]:
    problems = []
    for resource in resources:
        if resource["kind"] not in {"Deployment", "StatefulSet", "Job"}:
            continue
        for container in containers(resource):
            where = f"{resource['kind']} {resource['metadata']['name']}/{container['name']}"
            for source in container.get("envFrom", []):
                if source["configMapRef"]["name"] not in configmaps:
                    problems.append(f"{where}: no ConfigMap {source['configMapRef']['name']}")
            for variable in container.get("env", []):
                reference = variable.get("valueFrom", {})
                if "configMapKeyRef" in reference:
                    ref = reference["configMapKeyRef"]
                    if ref["key"] not in configmaps.get(ref["name"], {}):
                        problems.append(f"{where}: no key {ref['key']} in ConfigMap {ref['name']}")
                if "secretKeyRef" in reference:
                    ref = reference["secretKeyRef"]
                    if ref["key"] not in secrets.get(ref["name"], set()):
                        problems.append(f"{where}: no key {ref['key']} in Secret {ref['name']}")
        for volume in pod_spec(resource).get("volumes", []):
            if "configMap" in volume and volume["configMap"]["name"] not in configmaps:
                problems.append(f"{resource['metadata']['name']}: no ConfigMap for {volume}")
    return problems


def test_a_missing_secret_key_is_caught(
    base: list[dict[str, Any]], base_configmaps: dict[str, dict[str, str]]
) -> None:
    problems = reference_problems(base, base_configmaps, {"cxloop-secrets": {"database-url"}})

    assert any("no key link-secret in Secret cxloop-secrets" in p for p in problems)


@pytest.mark.parametrize("directory", kustomization_dirs(), ids=lambda p: str(p.relative_to(K8S)))
def test_settings_every_pod_shares_are_settings_of_every_service(directory: Path) -> None:
    # cxloop-config reaches every service through envFrom.
    shared = generated_configmaps(directory).get("cxloop-config", {})

    assert set(shared) <= SHARED_SETTINGS


# --- rendered with kubectl kustomize -----------------------------------------------------


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    """base and each overlay as `kubectl kustomize` builds them; production with the
    secrets template standing in for its git-ignored secrets.env."""
    if kubectl() is None:
        pytest.skip("kubectl is not installed: the overlays are checked unrendered only")
    copied = tmp_path_factory.mktemp("k8s") / "k8s"
    shutil.copytree(K8S, copied)
    shutil.copy(copied / "base" / "secrets.example.env", copied / "overlays/production/secrets.env")
    return {
        "base": render(copied / "base"),
        **{overlay: render(copied / "overlays" / overlay) for overlay in OVERLAYS},
    }


@pytest.mark.parametrize("name", ["base", *OVERLAYS])
def test_each_overlay_renders_manifests_that_run_the_services(
    rendered: dict[str, list[dict[str, Any]]], name: str
) -> None:
    resources = rendered[name]
    configmaps = {n: r.get("data", {}) for n, r in by_kind(resources, "ConfigMap").items()}
    secrets = {n: set(r.get("data", {})) for n, r in by_kind(resources, "Secret").items()}
    deployments = by_kind(resources, "Deployment")
    autoscalers = by_kind(resources, "HorizontalPodAutoscaler")
    problems = reference_problems(resources, configmaps, secrets)
    for service in SERVICES:
        problems += deployment_problems(
            service,
            deployments[service.name],
            configmaps,
            has_autoscaler=service.name in autoscalers,
        )
        if service.name in autoscalers:
            problems += autoscaler_problems(service, autoscalers[service.name])

    assert problems == []
    for resource in resources:
        kubernetes_validate.validate(resource, KUBERNETES_VERSIONS[0], strict=True)
        if resource["kind"] != "Namespace":
            assert resource["metadata"]["namespace"] == "cxloop"


def test_dev_runs_one_of_each_from_local_images(rendered: dict[str, list[dict[str, Any]]]) -> None:
    deployments = by_kind(rendered["dev"], "Deployment")

    assert by_kind(rendered["dev"], "HorizontalPodAutoscaler") == {}
    for service in SERVICES:
        assert deployments[service.name]["spec"]["replicas"] == 1
        images = {c["image"] for c in pod_spec(deployments[service.name])["containers"]}
        assert images == {f"cxloop-{service.name}:dev"}
    assert {"kafka", "postgres"} <= set(by_kind(rendered["dev"], "StatefulSet"))


def test_production_scales_and_pulls_tagged_images_from_a_registry(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    autoscalers = by_kind(rendered["production"], "HorizontalPodAutoscaler")
    images = {
        container["image"]
        for resource in rendered["production"]
        if resource["kind"] in {"Deployment", "Job"}
        for container in containers(resource)
        if "cxloop-" in container["image"]
    }

    assert set(autoscalers) == {s.name for s in SERVICES}
    assert all(a["spec"]["minReplicas"] >= 2 for a in autoscalers.values())
    assert images
    for image in images:
        name, _, tag = image.rpartition(":")
        assert "/" in name
        assert tag not in {"", "latest", "dev"}


def test_production_will_not_render_without_its_secrets(tmp_path: Path) -> None:
    if kubectl() is None:
        pytest.skip("kubectl is not installed")
    shutil.copytree(K8S, tmp_path / "k8s")
    (tmp_path / "k8s/overlays/production/secrets.env").unlink(missing_ok=True)

    with pytest.raises(AssertionError, match=r"secrets\.env"):
        render(tmp_path / "k8s/overlays/production")
