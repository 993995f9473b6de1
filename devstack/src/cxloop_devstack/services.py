"""The four cxloop services as the local stack runs them."""

from __future__ import annotations

import asyncio
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from cxloop_shared.migrations import upgrade
from cxloop_shared.operations import create_topics
from cxloop_shared.topics import all_topics


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """How to run and migrate one service."""

    name: str
    module: str
    schema: str
    port: int

    @property
    def migrations_dir(self) -> Path:
        """Where the service keeps its Alembic revisions."""
        spec = importlib.util.find_spec(self.module)
        if spec is None or spec.origin is None:
            raise ModuleNotFoundError(self.module)
        return Path(spec.origin).parent / "migrations"


# Gateway first: the others read its tables (configuration and keys).
SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec("gateway", "cxloop_gateway", "gateway", 8000),
    ServiceSpec("ingest", "cxloop_ingest", "ingest", 8001),
    ServiceSpec("dispatch", "cxloop_dispatch", "dispatch", 8002),
    ServiceSpec("scoring", "cxloop_scoring", "scoring", 8003),
)


def prepare_stack(*, database_url: str, bootstrap: str) -> None:
    """Migrate every service's schema and create every topic: what must exist before a
    service starts."""
    for service in SERVICES:
        upgrade(service.migrations_dir, url=database_url, schema=service.schema)
    asyncio.run(create_topics(bootstrap, all_topics()))
