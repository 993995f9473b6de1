"""Running a service: its command line (`serve`, `migrate`) and its background workers."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import structlog
import uvicorn
from fastapi import FastAPI

from cxloop_shared.logs import configure_logging
from cxloop_shared.migrations import upgrade
from cxloop_shared.settings import ServiceSettings

log = structlog.get_logger(__name__)


class Workers:
    """Long-running tasks of a service (consumers, relays, schedulers), stopped together."""

    def __init__(self) -> None:
        self.stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._on_stop: list[Callable[[], Coroutine[Any, Any, None]]] = []

    def start(
        self,
        name: str,
        work: Coroutine[Any, Any, None],
        *,
        on_stop: Callable[[], Coroutine[Any, Any, None]] | None = None,
    ) -> None:
        """Run `work` until the service stops; `on_stop` asks it to finish."""
        task = asyncio.create_task(work, name=name)
        task.add_done_callback(self._report)
        self._tasks.append(task)
        if on_stop is not None:
            self._on_stop.append(on_stop)

    def _report(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("worker.crashed", worker=task.get_name(), error=repr(task.exception()))

    async def stop(self, *, grace: float) -> None:
        """Ask every worker to finish, wait up to `grace` seconds, then cancel the rest."""
        self.stopping.set()
        for ask in self._on_stop:
            await ask()
        if not self._tasks:
            return
        _, pending = await asyncio.wait(self._tasks, timeout=grace)
        for task in pending:
            log.warning("worker.cancelled", worker=task.get_name())
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


def command_line(
    *,
    service: str,
    settings_type: type[ServiceSettings],
    create_app: Callable[[Any], FastAPI],
    migrations_dir: Path,
    schema: str,
) -> Callable[[], None]:
    """The `main()` of a service: `serve` (the default) or `migrate`."""

    def main() -> None:
        parser = argparse.ArgumentParser(prog=f"cxloop-{service}")
        parser.add_argument("command", nargs="?", default="serve", choices=["serve", "migrate"])
        args = parser.parse_args()
        settings = settings_type()
        configure_logging(service=service, level=settings.log_level, json=settings.log_json)
        if args.command == "migrate":
            upgrade(migrations_dir, url=settings.database_url, schema=schema)
            log.info("migrated", schema=schema)
            return
        uvicorn.run(
            create_app(settings),
            host=settings.host,
            port=settings.port,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
        )

    return main
