"""Running a service: its command line (`serve`, `migrate`) and its background workers."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any

import structlog
import uvicorn
from fastapi import FastAPI

from cxloop_shared import operations, tracing
from cxloop_shared.db import create_engine, service_metadata
from cxloop_shared.logs import configure_logging
from cxloop_shared.migrations import upgrade
from cxloop_shared.outbox import Outbox, outbox_table
from cxloop_shared.settings import ServiceSettings
from cxloop_shared.topics import all_topics

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


COMMANDS = ["serve", "migrate", "create-topics", "replay-dlq", "outbox"]


def command_line(
    *,
    service: str,
    settings_type: type[ServiceSettings],
    create_app: Callable[[Any], FastAPI],
    migrations_dir: Path,
    schema: str,
    commands: Mapping[str, Callable[[list[str]], int]] | None = None,
) -> Callable[[], None]:
    """The `main()` of a service: `serve` (the default), `migrate`, and the operations
    commands (`create-topics`, `replay-dlq <topic>.dlq`, `outbox [--drain]`); a service's
    own `commands` take the rest of the command line and return the exit status."""

    def main() -> None:
        own = commands or {}
        if len(sys.argv) > 1 and sys.argv[1] in own:
            raise SystemExit(own[sys.argv[1]](sys.argv[2:]))
        parser = argparse.ArgumentParser(prog=f"cxloop-{service}")
        parser.add_argument("command", nargs="?", default="serve", choices=COMMANDS)
        parser.add_argument("topic", nargs="?", help="replay-dlq: the dead-letter topic")
        parser.add_argument("--drain", action="store_true", help="outbox: relay all now")
        args = parser.parse_args()
        settings = settings_type()
        configure_logging(service=service, level=settings.log_level, json=settings.log_json)
        tracing.configure(settings, service=service)
        if args.command == "migrate":
            upgrade(migrations_dir, url=settings.database_url, schema=schema)
            log.info("migrated", schema=schema)
            return
        if args.command != "serve":
            print(asyncio.run(operate(args.command, args, settings, schema)))
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


async def operate(
    command: str, args: argparse.Namespace, settings: ServiceSettings, schema: str
) -> str:
    """Run one operations command; return what to print."""
    if command == "create-topics":
        await operations.create_topics(settings.kafka_bootstrap_servers, all_topics())
        return f"topics ready: {', '.join(sorted(all_topics()))}"
    if command == "replay-dlq":
        if not args.topic or not args.topic.endswith(".dlq"):
            raise SystemExit("replay-dlq needs the dead-letter topic, e.g. cx.touchpoints.dlq")
        replayed = await operations.replay_dlq(settings, args.topic)
        return f"replayed {replayed} message(s) from {args.topic}"
    engine = create_engine(settings.database_url)
    try:
        outbox = Outbox(outbox_table(service_metadata(schema)), source=f"cxloop/{schema}")
        if args.drain:
            relayed = await operations.drain_outbox(engine, outbox, settings)
            return f"relayed {relayed} event(s) from {schema}.outbox"
        state = await operations.outbox_state(engine, outbox)
        age = f"{state.oldest_age_seconds:.0f} s" if state.oldest_age_seconds else "-"
        return f"{schema}.outbox: {state.waiting} waiting, oldest {age}"
    finally:
        await engine.dispose()
