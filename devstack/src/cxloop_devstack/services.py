"""The four cxloop services as the local stack runs them."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path


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
