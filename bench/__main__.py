"""`make bench`: start a real stack, run each benchmark, print a table, keep JSON."""

from __future__ import annotations

import argparse
import asyncio
import secrets
import tempfile
from pathlib import Path

import httpx
from cxloop_devstack.kafka import choose_broker
from cxloop_devstack.ports import free_port
from cxloop_devstack.postgres import EmbeddedPostgres
from cxloop_devstack.services import SERVICES, prepare_stack
from cxloop_devstack.stack import StackSettings, start_services

from bench import ingest
from bench.runner import save, table


def main() -> None:
    parser = argparse.ArgumentParser(prog="make bench")
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each load run")
    parser.add_argument("--concurrency", type=int, default=16, help="clients in each load run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cxloop-bench-") as tmp:
        postgres = EmbeddedPostgres(Path(tmp) / "postgres")
        broker = choose_broker(Path(tmp) / "kafka")
        services = {}
        try:
            database_url = postgres.start()
            bootstrap = broker.start()
            prepare_stack(database_url=database_url, bootstrap=bootstrap)
            settings = StackSettings(
                database_url=database_url,
                kafka_bootstrap=bootstrap,
                kafka_idempotence=broker.supports_idempotence,
                admin_token=secrets.token_urlsafe(24),
                ports={spec.name: free_port() for spec in SERVICES},
                extra={"ingest": {"CXLOOP_LOG_LEVEL": "WARNING"}},
            )
            services = start_services(settings, Path(tmp) / "logs", names=("gateway", "ingest"))
            ingest_key = _ingest_key(settings)
            loads = asyncio.run(
                ingest.run(
                    ingest_url=settings.url("ingest"),
                    ingest_key=ingest_key,
                    seconds=args.seconds,
                    concurrency=args.concurrency,
                )
            )
            raw = asyncio.run(
                ingest.raw_producer(
                    bootstrap=bootstrap,
                    idempotence=broker.supports_idempotence,
                    seconds=args.seconds,
                )
            )
        finally:
            for process in services.values():
                process.stop()
            broker.stop()
            postgres.stop()
    baseline, single, batch = loads
    rows = [load.summary() for load in [*loads, raw]]
    ratios = {
        "single_event_rate_vs_empty_endpoint": single.rate / baseline.rate,
        "single_event_p99_vs_empty_endpoint_p99": single.percentile(0.99)
        / baseline.percentile(0.99),
        "batch_request_rate_vs_empty_endpoint": batch.rate / baseline.rate,
        "batch_p99_vs_empty_endpoint_p99": batch.percentile(0.99) / baseline.percentile(0.99),
        "single_events_per_s_vs_raw_producer": single.item_rate / raw.item_rate,
        "batched_events_per_s_vs_raw_producer": batch.item_rate / raw.item_rate,
    }
    ratios = {name: round(value, 3) for name, value in ratios.items()}
    path = save({"broker": broker.name, "loads": rows, "ratios": ratios})
    print(table(rows))
    for name, value in ratios.items():
        print(f"{name}: {value}")
    print(f"results: {path}")


def _ingest_key(settings: StackSettings) -> str:
    with httpx.Client(base_url=settings.url("gateway"), timeout=10) as gateway:
        created = gateway.post(
            "/v1/workspaces",
            json={"id": "bench"},
            headers={"Authorization": f"Bearer {settings.admin_token}"},
        )
        created.raise_for_status()
        admin = created.json()["admin_key"]["key"]
        issued = gateway.post(
            "/v1/api-keys",
            json={"name": "bench", "scopes": ["events:write"]},
            headers={"Authorization": f"Bearer {admin}"},
        )
        issued.raise_for_status()
        return str(issued.json()["key"])


if __name__ == "__main__":
    main()
