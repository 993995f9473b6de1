"""Reading the Kubernetes manifests and kustomizations, and what a service's Deployment
and autoscaler must hold."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.deploy_support import (
    K8S,
    SHUTDOWN_PHASES,
    Service,
    env_file,
    environment_problems,
)


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def kustomization(directory: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((directory / "kustomization.yaml").read_text())
    return loaded


def kustomization_dirs() -> list[Path]:
    return sorted(path.parent for path in K8S.rglob("kustomization.yaml"))


def resource_documents(directory: Path) -> list[dict[str, Any]]:
    """The resources a kustomization lists as files (not those of its bases)."""
    found = []
    for entry in kustomization(directory).get("resources", []):
        path = directory / entry
        if path.is_file():
            found.extend(documents(path))
    return found


def generated_configmaps(directory: Path) -> dict[str, dict[str, str]]:
    """ConfigMaps of a kustomization's configMapGenerator, by name (before hashing)."""
    configmaps: dict[str, dict[str, str]] = {}
    for generator in kustomization(directory).get("configMapGenerator", []):
        data = configmaps.setdefault(generator["name"], {})
        for env in generator.get("envs", []):
            data.update(env_file(directory / env))
        for literal in generator.get("literals", []):
            key, _, value = literal.partition("=")
            data[key] = value
        for file in generator.get("files", []):
            data[Path(file).name] = (directory / file).read_text(encoding="utf-8")
    return configmaps


def kubectl() -> str | None:
    return shutil.which("kubectl")


def render(directory: Path) -> list[dict[str, Any]]:
    """`kubectl kustomize directory`, parsed."""
    command = kubectl()
    assert command is not None
    result = subprocess.run(
        [command, "kustomize", str(directory)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def pod_spec(resource: Mapping[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = resource["spec"]["template"]["spec"]
    return spec


def container_environment(
    container: Mapping[str, Any], configmaps: Mapping[str, Mapping[str, str]]
) -> dict[str, str | None]:
    """A container's environment: env values, ConfigMap values; None for Secrets."""
    environment: dict[str, str | None] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            environment.update(configmaps.get(source["configMapRef"]["name"], {}))
        else:
            raise AssertionError(f"envFrom {source}: only ConfigMaps are expected")
    for variable in container.get("env", []):
        reference = variable.get("valueFrom", {})
        if "configMapKeyRef" in reference:
            ref = reference["configMapKeyRef"]
            environment[variable["name"]] = configmaps.get(ref["name"], {}).get(ref["key"])
        elif reference:
            environment[variable["name"]] = None
        else:
            environment[variable["name"]] = str(variable.get("value", ""))
    return environment


def named_port(container: Mapping[str, Any], port: int | str) -> int | None:
    if isinstance(port, int):
        return port
    for declared in container.get("ports", []):
        if declared.get("name") == port:
            value = declared["containerPort"]
            assert isinstance(value, int)
            return value
    return None


def deployment_problems(
    service: Service,
    deployment: Mapping[str, Any],
    configmaps: Mapping[str, Mapping[str, str]],
    *,
    has_autoscaler: bool,
) -> list[str]:
    """What keeps a Deployment from running `service` as its code expects."""
    where = f"Deployment {deployment['metadata']['name']}"
    spec = pod_spec(deployment)
    containers = {c["name"]: c for c in spec["containers"]}
    container = containers.get(service.name)
    if container is None:
        return [f"{where}: no container named {service.name}"]
    problems = environment_problems(
        service, container_environment(container, configmaps), where=where
    )
    ports = [p["containerPort"] for p in container.get("ports", [])]
    if ports != [service.port]:
        problems.append(f"{where}: container ports {ports}, the service listens on {service.port}")
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        get = container.get(probe, {}).get("httpGet", {})
        if get.get("path") != path or named_port(container, get.get("port", "")) != service.port:
            problems.append(f"{where}: {probe} is {get}, expected {path} on {service.port}")
    if "startupProbe" in container:
        get = container["startupProbe"].get("httpGet", {})
        if get.get("path") != "/healthz" or named_port(container, get.get("port", "")) != (
            service.port
        ):
            problems.append(f"{where}: startupProbe is {get}, expected /healthz")
    if container.get("args") != ["serve"]:
        problems.append(f"{where}: args {container.get('args')}, expected [serve]")
    resources = container.get("resources", {})
    if not {"cpu", "memory"} <= set(resources.get("requests", {})):
        problems.append(f"{where}: resources.requests needs cpu and memory")
    if "memory" not in resources.get("limits", {}):
        problems.append(f"{where}: resources.limits needs memory")
    problems += security_problems(where, spec, container)
    grace = float(
        container_environment(container, configmaps).get("CXLOOP_SHUTDOWN_GRACE_SECONDS")
        or service.shutdown_grace_seconds
    )
    pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command")
    pre_stop_seconds = float(pre_stop[1]) if pre_stop and pre_stop[0] == "sleep" else 0.0
    needed = pre_stop_seconds + SHUTDOWN_PHASES * grace
    termination = spec.get("terminationGracePeriodSeconds", 30)
    if termination <= needed:
        problems.append(
            f"{where}: terminationGracePeriodSeconds {termination} is not above preStop "
            f"{pre_stop_seconds:g} s + {SHUTDOWN_PHASES} x shutdown grace {grace:g} s"
        )
    annotations = deployment["spec"]["template"]["metadata"].get("annotations", {})
    if annotations.get("prometheus.io/port") != str(service.port):
        problems.append(f"{where}: prometheus.io/port is not {service.port}")
    if has_autoscaler and "replicas" in deployment["spec"]:
        problems.append(f"{where}: sets replicas although an autoscaler owns the count")
    return problems


def security_problems(
    where: str, pod: Mapping[str, Any], container: Mapping[str, Any]
) -> list[str]:
    problems = []
    pod_context = pod.get("securityContext", {})
    context = container.get("securityContext", {})
    if not (context.get("runAsNonRoot") or pod_context.get("runAsNonRoot")):
        problems.append(f"{where}: runAsNonRoot is not set")
    if context.get("allowPrivilegeEscalation") is not False:
        problems.append(f"{where}: allowPrivilegeEscalation is not false")
    if context.get("readOnlyRootFilesystem") is not True:
        problems.append(f"{where}: the root filesystem is writable")
    if context.get("capabilities", {}).get("drop") != ["ALL"]:
        problems.append(f"{where}: capabilities are not all dropped")
    return problems


def autoscaler_problems(service: Service, autoscaler: Mapping[str, Any]) -> list[str]:
    """Replica bounds past what the service's topics can feed."""
    where = f"HorizontalPodAutoscaler {autoscaler['metadata']['name']}"
    spec = autoscaler["spec"]
    problems = []
    if spec["scaleTargetRef"] != {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": service.name,
    }:
        problems.append(f"{where}: scales {spec['scaleTargetRef']}, not Deployment {service.name}")
    if spec.get("minReplicas", 1) > spec["maxReplicas"]:
        problems.append(f"{where}: minReplicas above maxReplicas")
    ceiling = service.replica_ceiling
    if ceiling is not None and spec["maxReplicas"] > ceiling:
        problems.append(
            f"{where}: maxReplicas {spec['maxReplicas']} exceeds {ceiling}, the partitions of "
            f"the topics {service.name} consumes ({service.consumer_groups})"
        )
    return problems
