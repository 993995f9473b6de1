"""The four services as real processes, for `make run`, the end-to-end tests and benches."""

from __future__ import annotations

import os
import secrets
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from cxloop_devstack.processes import LoggedProcess
from cxloop_devstack.services import SERVICES, ServiceSpec


@dataclass(frozen=True)
class StackSettings:
    """What every service process is told through its `CXLOOP_` environment."""

    database_url: str
    kafka_bootstrap: str
    kafka_idempotence: bool
    admin_token: str
    # Fresh per stack: nothing signed by one local stack verifies on another.
    link_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    internal_token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    ports: dict[str, int] = field(default_factory=lambda: {s.name: s.port for s in SERVICES})
    extra: dict[str, dict[str, str]] = field(default_factory=dict)

    def url(self, service: str) -> str:
        """The base URL a service answers on."""
        return f"http://127.0.0.1:{self.ports[service]}"

    def environment(self, spec: ServiceSpec) -> dict[str, str]:
        """The environment of one service process."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("CXLOOP_")}
        env.update(
            {
                "CXLOOP_DATABASE_URL": self.database_url,
                "CXLOOP_KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap,
                "CXLOOP_KAFKA_IDEMPOTENCE": str(self.kafka_idempotence).lower(),
                "CXLOOP_ADMIN_TOKEN": self.admin_token,
                "CXLOOP_LINK_SECRET": self.link_secret,
                "CXLOOP_INTERNAL_TOKEN": self.internal_token,
                "CXLOOP_PORT": str(self.ports[spec.name]),
                "CXLOOP_PUBLIC_URL": self.url("ingest"),
                "CXLOOP_SCORING_URL": self.url("scoring"),
                "CXLOOP_DISPATCH_URL": self.url("dispatch"),
                "CXLOOP_CONFIG_CACHE_TTL_SECONDS": "1",
            }
        )
        env.update(self.extra.get(spec.name, {}))
        return env


class ServiceProcess:
    """One service running as `python -m cxloop_<name>`, its output in a log file."""

    def __init__(self, spec: ServiceSpec, settings: StackSettings, log_dir: Path) -> None:
        self.spec = spec
        self.settings = settings
        self.process = LoggedProcess(
            [sys.executable, "-m", spec.module, "serve"],
            log_dir / f"{spec.name}.log",
            env=settings.environment(spec),
        )

    @property
    def url(self) -> str:
        """Where the service answers."""
        return self.settings.url(self.spec.name)

    def start(self) -> None:
        """Launch the process (returns at once; see `wait_ready`)."""
        self.process.start()

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Block until `/readyz` answers 200, or raise with the log's tail."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.process.is_running():
                raise RuntimeError(f"{self.spec.name} exited:\n{self.process.tail()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"{self.spec.name} not ready after {timeout}s:\n{self.process.tail()}")

    def stop(self, timeout: float = 25.0) -> None:
        """SIGTERM (graceful), then SIGKILL after `timeout`."""
        self.process.stop(timeout)

    def kill(self) -> None:
        """SIGKILL: a crash, no cleanup."""
        self.process.kill()


def start_services(
    settings: StackSettings, log_dir: Path, *, names: tuple[str, ...] | None = None
) -> dict[str, ServiceProcess]:
    """Start the services (all by default) and wait until each is ready."""
    processes = {
        spec.name: ServiceProcess(spec, settings, log_dir)
        for spec in SERVICES
        if names is None or spec.name in names
    }
    for process in processes.values():
        process.start()
    try:
        for process in processes.values():
            process.wait_ready()
    except Exception:
        for process in processes.values():
            process.stop(5)
        raise
    return processes
