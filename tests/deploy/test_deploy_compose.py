"""docker-compose.yml and Prometheus's configuration, checked without a Docker engine:
valid Compose, each service wired as its code expects, every topic created, every service
scraped."""

from __future__ import annotations

import copy
import json
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from compose_spec import PyCompose
from cxloop_shared.topics import all_topics

from tests.deploy.compose_files import (
    compose_environment,
    compose_variables,
    interpolate,
    load_compose,
    seconds,
)
from tests.deploy.deploy_support import (
    REPO,
    SERVICES,
    SHUTDOWN_PHASES,
    env_file,
    environment_problems,
)

ENV_EXAMPLE = REPO / "deploy" / "compose.env.example"
PROMETHEUS = REPO / "deploy" / "prometheus"
TOPICS_SCRIPT = REPO / "deploy" / "k8s" / "base" / "kafka" / "create-topics.sh"
# Published on the host as README's walk-through says.
HOST_PORTS = {"gateway": 8000, "ingest": 8001}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """docker-compose.yml as Compose sees it without a .env: every default applied."""
    loaded: dict[str, Any] = interpolate(load_compose())
    return loaded


def service_problems(compose: Mapping[str, Any]) -> list[str]:
    """What keeps Compose from building, migrating and running each service as expected."""
    services = compose["services"]
    problems = []
    for service in SERVICES:
        definition = services.get(service.name)
        migration = services.get(f"{service.name}-migrate")
        if definition is None or migration is None:
            problems.append(f"{service.name} or {service.name}-migrate is missing")
            continue
        where = f"compose {service.name}"
        build = definition.get("build", {})
        dockerfile = f"services/{service.directory}/Dockerfile"
        if build != {"context": ".", "dockerfile": dockerfile} or migration.get("build") != build:
            problems.append(f"{where}: build must be {dockerfile} with the repository as context")
        if not (REPO / build.get("dockerfile", "-")).is_file():
            problems.append(f"{where}: {build.get('dockerfile')} does not exist")
        environment = compose_environment(definition)
        problems += environment_problems(service, environment, where=where)
        if environment.get("CXLOOP_HOST") != "0.0.0.0":
            problems.append(f"{where}: CXLOOP_HOST must be 0.0.0.0 inside a container")
        if environment.get("CXLOOP_PORT") != str(service.port):
            problems.append(f"{where}: CXLOOP_PORT is not {service.port}")
        published = [str(port) for port in definition.get("ports", [])]
        wanted = (
            [f"{HOST_PORTS[service.name]}:{service.port}"] if service.name in HOST_PORTS else []
        )
        if published != wanted:
            problems.append(f"{where}: publishes {published}, expected {wanted}")
        needs = {
            f"{service.name}-migrate": "service_completed_successfully",
            "gateway-migrate": "service_completed_successfully",
            "kafka-topics": "service_completed_successfully",
            "kafka": "service_healthy",
        }
        depends = {name: d.get("condition") for name, d in definition.get("depends_on", {}).items()}
        if depends != needs:
            problems.append(f"{where}: depends_on {depends}, expected {needs}")
        grace = SHUTDOWN_PHASES * service.shutdown_grace_seconds
        if seconds(definition.get("stop_grace_period", "10s")) <= grace:
            problems.append(f"{where}: stop_grace_period is not above {grace:g} s")
        if definition.get("read_only") is not True:
            problems.append(f"{where}: the root filesystem is writable")
        where = f"compose {service.name}-migrate"
        if migration.get("image") != definition.get("image") or migration.get("command") != [
            "migrate"
        ]:
            problems.append(f"{where}: must run `migrate` in {service.name}'s image")
        if migration.get("restart") != "no":
            problems.append(f'{where}: restart must be "no"')
        if migration.get("depends_on") != {"postgres": {"condition": "service_healthy"}}:
            problems.append(f"{where}: must wait for a healthy postgres")
        problems += environment_problems(service, compose_environment(migration), where=where)
    return problems


def test_the_compose_file_is_valid_compose(compose: dict[str, Any]) -> None:
    parsed = PyCompose.from_json(json.dumps(compose))

    assert set(parsed.service_names()) >= {s.name for s in SERVICES} | {"kafka", "postgres"}


def test_invalid_compose_is_refused(compose: dict[str, Any]) -> None:
    broken = copy.deepcopy(compose)
    broken["services"]["ingest"]["depends_on"]["kafka"]["condition"] = "service_ready"

    with pytest.raises(ValueError, match="service_ready"):
        PyCompose.from_json(json.dumps(broken))


def test_each_service_is_built_migrated_and_run_as_its_code_expects(
    compose: dict[str, Any],
) -> None:
    assert service_problems(compose) == []


@pytest.mark.parametrize(
    ("service", "key", "value", "problem"),
    [
        ("scoring", "environment", {"CXLOOP_ADMIN_TOKEN": "x"}, "not a setting of scoring"),
        ("ingest", "environment", {"CXLOOP_PORT": "8002"}, "CXLOOP_PORT is not 8001"),
        ("ingest", "environment", {"CXLOOP_DEDUPE_DAYS": "1"}, "refuses its settings"),
        ("dispatch", "depends_on", {"kafka": {"condition": "service_healthy"}}, "depends_on"),
        ("gateway", "stop_grace_period", "10s", "stop_grace_period"),
        ("gateway-migrate", "command", ["serve"], "must run `migrate`"),
    ],
)
def test_a_service_that_strays_is_caught(
    compose: dict[str, Any], service: str, key: str, value: object, problem: str
) -> None:
    broken = copy.deepcopy(compose)
    definition = broken["services"][service]
    if isinstance(value, dict) and key == "environment":
        definition[key] = {**definition[key], **value}
    else:
        definition[key] = value

    assert any(problem in found for found in service_problems(broken)), service_problems(broken)


def test_every_variable_defaults_to_the_documented_placeholder() -> None:
    uses = set(compose_variables(load_compose()))
    documented = env_file(ENV_EXAMPLE)

    assert len({name for name, _ in uses}) == len(uses), f"one variable, two defaults: {uses}"
    assert dict(uses) == documented
    secrets = [name for name in documented if re.search("PASSWORD|SECRET|TOKEN", name)]
    assert secrets
    assert all("change-me" in documented[name] for name in secrets)


def test_the_services_reach_postgres_with_its_password_and_database(
    compose: dict[str, Any],
) -> None:
    postgres = compose_environment(compose["services"]["postgres"])
    urls = {
        compose_environment(definition).get("CXLOOP_DATABASE_URL")
        for name, definition in compose["services"].items()
        if name.split("-")[0] in {s.name for s in SERVICES}
    }

    assert len(urls) == 1
    url = urlsplit(urls.pop() or "")
    assert url.scheme == "postgresql+asyncpg"
    assert (url.hostname, url.port, url.path) == ("postgres", 5432, f"/{postgres['POSTGRES_DB']}")
    assert (url.username, url.password) == (
        postgres["POSTGRES_USER"],
        postgres["POSTGRES_PASSWORD"],
    )
    assert "healthcheck" in compose["services"]["postgres"]


def test_kafka_is_apache_kafka_in_kraft_mode_where_the_services_look(
    compose: dict[str, Any],
) -> None:
    kafka = compose["services"]["kafka"]
    settings = compose_environment(kafka)
    advertised = settings["KAFKA_ADVERTISED_LISTENERS"].split(",")
    bootstraps = {
        compose_environment(compose["services"][s.name])["CXLOOP_KAFKA_BOOTSTRAP_SERVERS"]
        for s in SERVICES
    }

    assert kafka["image"] == "apache/kafka:4.1.1"
    assert set(settings["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert not any("ZOOKEEPER" in name for name in settings)
    assert settings["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert len(bootstraps) == 1
    assert f"PLAINTEXT://{bootstraps.pop()}" in advertised
    assert "kafka:9092" in kafka["healthcheck"]["test"]


def created_topics(script: Path, tmp_path: Path, **environment: str) -> dict[str, dict[str, str]]:
    """Run the topic script against a stand-in kafka-topics.sh; what it asked to create."""
    calls = tmp_path / "calls"
    stub = tmp_path / "kafka-topics.sh"
    stub.write_text(f'#!/bin/bash\nprintf "%s\\n" "$*" >> {calls}\n')
    stub.chmod(0o755)
    subprocess.run(
        ["bash", str(script)],
        env={"PATH": "/usr/bin:/bin", "KAFKA_TOPICS_SH": str(stub), **environment},
        check=True,
        capture_output=True,
        timeout=30,
    )
    created = {}
    for call in calls.read_text().splitlines():
        words = call.split()
        if "--create" in words:
            options = {
                words[i]: words[i + 1] for i in range(len(words) - 1) if words[i].startswith("--")
            }
            configs = [words[i + 1] for i, word in enumerate(words) if word == "--config"]
            options.update(config.partition("=")[::2] for config in configs)
            created[options["--topic"]] = options
    return created


def test_the_topic_job_creates_every_topic_with_its_partitions(
    compose: dict[str, Any], tmp_path: Path
) -> None:
    job = compose["services"]["kafka-topics"]
    source, target, _ = job["volumes"][0].split(":")
    environment = compose_environment(job)

    created = created_topics(REPO / source, tmp_path, **environment)

    assert (REPO / source).resolve() == TOPICS_SCRIPT
    assert job["entrypoint"] == ["bash", target]
    assert job["depends_on"] == {"kafka": {"condition": "service_healthy"}}
    assert {topic: int(o["--partitions"]) for topic, o in created.items()} == all_topics()
    assert {o["--replication-factor"] for o in created.values()} == {"1"}
    assert {o["--bootstrap-server"] for o in created.values()} == {"kafka:9092"}
    retention = {topic: int(o["retention.ms"]) for topic, o in created.items()}
    assert min(retention[t] for t in created if t.endswith(".dlq")) > max(
        retention[t] for t in created if not t.endswith(".dlq")
    )


def test_a_topic_script_that_strays_from_topics_py_is_caught(tmp_path: Path) -> None:
    strayed = tmp_path / "create-topics.sh"
    strayed.write_text(
        TOPICS_SCRIPT.read_text().replace("create cx.alerts 3", "create cx.alerts 6")
    )

    created = created_topics(strayed, tmp_path, BOOTSTRAP_SERVERS="kafka:9092")

    assert {topic: int(o["--partitions"]) for topic, o in created.items()} != all_topics()


def scrape_targets(configuration: Mapping[str, Any]) -> set[tuple[str, int, str]]:
    """(host, port, path) of every scrape target, static or resolved by DNS."""
    targets = set()
    for job in configuration.get("scrape_configs", []):
        path = job.get("metrics_path", "/metrics")
        for static in job.get("static_configs", []):
            for target in static["targets"]:
                host, _, port = target.rpartition(":")
                targets.add((host, int(port), path))
        for dns in job.get("dns_sd_configs", []):
            targets.update((name, int(dns["port"]), path) for name in dns["names"])
    return targets


def test_prometheus_scrapes_every_service_on_its_port(compose: dict[str, Any]) -> None:
    prometheus = compose["services"]["prometheus"]
    mount = next(v for v in prometheus["volumes"] if v.startswith("./"))
    source, target, _ = mount.split(":")
    configuration = yaml.safe_load((REPO / source / "prometheus.yml").read_text())

    assert (REPO / source).resolve() == PROMETHEUS
    assert f"--config.file={target}/prometheus.yml" in prometheus["command"]
    assert {(s.name, s.port, "/metrics") for s in SERVICES} <= scrape_targets(configuration)
    for rules in configuration["rule_files"]:
        assert (PROMETHEUS / rules).is_file()


def test_a_service_prometheus_does_not_scrape_is_caught() -> None:
    configuration = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    configuration["scrape_configs"] = [
        job for job in configuration["scrape_configs"] if job["job_name"] != "scoring"
    ]

    missing = {(s.name, s.port, "/metrics") for s in SERVICES} - scrape_targets(configuration)

    assert missing == {("scoring", 8003, "/metrics")}


def test_alert_rules_watch_metrics_the_services_export() -> None:
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    expressions = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    source = "\n".join(
        path.read_text(encoding="utf-8")
        for root in [REPO / "shared" / "src", REPO / "services"]
        for path in root.rglob("*.py")
        if "tests" not in path.parts
    )

    metrics = {name for expr in expressions for name in re.findall(r"\bcxloop_\w+", expr)}

    assert metrics
    assert {m for m in metrics if f'"{m}"' not in source} == set()


def test_the_mail_catcher_shows_mail_on_8025(compose: dict[str, Any]) -> None:
    mail = compose["services"]["mail"]

    assert mail["image"].startswith("axllent/mailpit:")
    assert "8025:8025" in mail["ports"]


def test_every_file_compose_mounts_exists(compose: dict[str, Any]) -> None:
    mounts = [
        volume.split(":")[0]
        for definition in compose["services"].values()
        for volume in definition.get("volumes", [])
        if volume.startswith("./")
    ]

    assert mounts
    assert [m for m in mounts if not (REPO / m).exists()] == []
