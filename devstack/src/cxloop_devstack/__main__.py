"""``cxloop-devstack``: run the local infrastructure pieces from the command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cxloop_devstack import mailcatcher
from cxloop_devstack.foreground import wait_for_shutdown
from cxloop_devstack.kafka import ApacheKafka, TansuBroker, java_available
from cxloop_devstack.kafka_jars import ensure_kafka_jars
from cxloop_devstack.postgres import EmbeddedPostgres


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen command; returns the process exit status."""
    parser = argparse.ArgumentParser(prog="cxloop-devstack", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="make run: the whole stack until Ctrl-C")
    run.add_argument("--demo", action="store_true", help="also feed synthetic traffic")

    commands.add_parser("fetch-kafka", help="download and cache Apache Kafka's jars (Maven)")

    kafka = commands.add_parser("kafka", help="run a Kafka broker until Ctrl-C")
    kafka.add_argument("--port", type=int, default=9092)
    kafka.add_argument("--dir", type=Path, default=Path(".cxloop/kafka"))
    kafka.add_argument(
        "--embedded",
        action="store_true",
        help="run the embedded Tansu broker (in-memory) instead of Apache Kafka",
    )

    postgres = commands.add_parser("postgres", help="run PostgreSQL until Ctrl-C")
    postgres.add_argument("--dir", type=Path, default=Path(".cxloop/postgres"))
    postgres.add_argument("--port", type=int, default=None)

    mail = commands.add_parser("mailcatcher", help="run the SMTP catcher and web inbox")
    mailcatcher.add_arguments(mail)

    args = parser.parse_args(argv)
    if args.command == "run":
        from cxloop_devstack.run import main as run_stack

        run_stack(demo=args.demo)
        return 0
    if args.command == "fetch-kafka":
        print(ensure_kafka_jars())
        return 0
    if args.command == "kafka":
        return _run_kafka(args)
    if args.command == "postgres":
        return _run_postgres(args)
    mailcatcher.run_foreground(args)
    return 0


def _run_kafka(args: argparse.Namespace) -> int:
    broker: ApacheKafka | TansuBroker
    if args.embedded:
        broker = TansuBroker(args.dir, port=args.port)
    elif java_available():
        broker = ApacheKafka(args.dir, port=args.port)
    else:
        # Same fallback as choose_broker("auto"), but said out loud.
        print("java/mvn not found: running the embedded Tansu broker", file=sys.stderr)
        broker = TansuBroker(args.dir, port=args.port)
    bootstrap = broker.start()
    print(f"{broker.name} on {bootstrap} (log: {broker.log_path})", flush=True)
    try:
        return wait_for_shutdown(broker.is_running)
    finally:
        broker.stop()


def _run_postgres(args: argparse.Namespace) -> int:
    server = EmbeddedPostgres(args.dir, port=args.port)
    url = server.start()
    print(url, flush=True)
    try:
        return wait_for_shutdown(server.is_running)
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
