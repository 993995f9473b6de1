"""One running stack per test module: the four real service processes and a mail catcher."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cxloop_devstack.mailcatcher import MailCatcher
from cxloop_devstack.ports import free_port
from cxloop_devstack.postgres import create_database
from cxloop_devstack.services import SERVICES, prepare_stack
from cxloop_devstack.stack import ServiceProcess, StackSettings, start_services

LOG_DIR = Path(__file__).parents[2] / "test-artifacts" / "logs"


@dataclass
class Stack:
    """The running services, the settings they share and the inbox they send to."""

    settings: StackSettings
    services: dict[str, ServiceProcess]
    mail: MailCatcher

    def client(self, service: str, key: str | None = None) -> httpx.Client:
        """An HTTP client for one service, with a Bearer key when given."""
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.settings.url(service), headers=headers, timeout=10)


@pytest.fixture(scope="module")
def database_url(database_url: str, kafka_bootstrap: str) -> str:
    """A database of this module's own on the suite's server.

    The service processes here run every worker (schedulers, consumers) against
    whatever they find; a fresh database keeps other tests' invitations and
    workspaces out of their way.
    """
    name = f"e2e_{uuid.uuid4().hex[:10]}"
    url = asyncio.run(create_database(database_url, name))
    prepare_stack(database_url=url, bootstrap=kafka_bootstrap)
    return url


@pytest.fixture(scope="module")
def mail() -> Iterator[MailCatcher]:
    catcher = MailCatcher()
    catcher.start()
    yield catcher
    catcher.stop()


@pytest.fixture(scope="module")
def stack(
    database_url: str,
    kafka_bootstrap: str,
    kafka_idempotence: bool,
    mail: MailCatcher,
    request: pytest.FixtureRequest,
) -> Iterator[Stack]:
    settings = StackSettings(
        database_url=database_url,
        kafka_bootstrap=kafka_bootstrap,
        kafka_idempotence=kafka_idempotence,
        admin_token=secrets.token_urlsafe(24),
        ports={spec.name: free_port() for spec in SERVICES},
        # A dead dispatcher's claims are settled after 2 s instead of a minute.
        extra={"dispatch": {"CXLOOP_SEND_LEASE_SECONDS": "2"}},
    )
    log_dir = LOG_DIR / request.module.__name__.rsplit(".", 1)[-1]
    services = start_services(settings, log_dir)
    yield Stack(settings, services, mail)
    for process in services.values():
        process.stop()
