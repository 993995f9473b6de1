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

from bench import dispatch, ingest, scoring
from bench.runner import Load, save, table


def main() -> None:
    parser = argparse.ArgumentParser(prog="make bench")
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each load run")
    parser.add_argument("--concurrency", type=int, default=16, help="clients in each load run")
    parser.add_argument(
        "--dispatch-events",
        type=int,
        default=dispatch.EVENTS,
        help="touchpoints the dispatcher works through",
    )
    parser.add_argument(
        "--query-answers",
        type=int,
        default=scoring.QUERY_ANSWERS,
        help="answers the metric queries are measured over",
    )
    parser.add_argument(
        "--only",
        choices=("ingest", "dispatch", "scoring"),
        help="run one benchmark (default: all)",
    )
    args = parser.parse_args()
    run_ingest = args.only in (None, "ingest")
    run_dispatch = args.only in (None, "dispatch")
    run_scoring = args.only in (None, "scoring")
    loads: list[Load] = []
    dispatched: dispatch.DispatchResults | None = None
    scored: scoring.ScoringResults | None = None
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
                extra={
                    "ingest": {"CXLOOP_LOG_LEVEL": "WARNING"},
                    "dispatch": dispatch.SERVICE_ENVIRONMENT,
                    "scoring": scoring.SERVICE_ENVIRONMENT,
                    "gateway": GATEWAY_ENVIRONMENT,
                },
            )
            names = ("gateway", "ingest") if run_ingest or run_scoring else ("gateway",)
            services = start_services(settings, Path(tmp) / "logs", names=names)
            if run_ingest:
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
                loads.append(raw)
            if run_dispatch:
                dispatched = asyncio.run(
                    dispatch.run(
                        settings=settings,
                        log_dir=Path(tmp) / "logs",
                        events=args.dispatch_events,
                        idempotence=broker.supports_idempotence,
                    )
                )
            if run_scoring:
                scored = asyncio.run(
                    scoring.run(
                        settings=settings,
                        log_dir=Path(tmp) / "logs",
                        idempotence=broker.supports_idempotence,
                        seconds=args.seconds,
                        concurrency=args.concurrency,
                        query_answers=args.query_answers,
                    )
                )
        finally:
            for process in services.values():
                process.stop()
            broker.stop()
            postgres.stop()
    results: dict[str, object] = {"broker": broker.name}
    ratios: dict[str, float] = {}
    tables = []
    if loads:
        rows = [load.summary() for load in loads]
        ratios |= _ingest_ratios(*loads)
        results["loads"] = rows
        tables.append(table(rows))
    if dispatched is not None:
        rows = dispatched.rows()
        ratios |= dispatched.ratios()
        results["dispatch"] = {
            "events": args.dispatch_events,
            "batch_size": dispatch.BATCH_SIZE,
            "rows": rows,
            "details": dispatched.details,
        }
        tables.append(table(rows))
    if scored is not None:
        ratios |= scored.ratios()
        gateway_rows = [load.summary() for load in scored.gateway]
        results["scoring"] = {
            "answers": scoring.ANSWERS,
            "query_answers": args.query_answers,
            "rows": scored.rows(),
            "queries": scored.queries,
            "gateway": gateway_rows,
            "freshness": scored.freshness(),
            "details": scored.details,
        }
        tables += [table(scored.rows()), table(scored.queries), table(gateway_rows)]
    ratios = {name: round(value, 3) for name, value in ratios.items()}
    path = save(results | {"ratios": ratios})
    print("\n\n".join(tables))
    if dispatched is not None:
        print(", ".join(f"{name}: {value}" for name, value in dispatched.details.items()))
    if scored is not None:
        figures = scored.details | scored.freshness()
        print(", ".join(f"{name}: {value}" for name, value in figures.items()))
    for name, value in ratios.items():
        print(f"{name}: {value}")
    print(f"results: {path}")


# Closed loops of 16 clients are far above a dashboard's rate: lift the per-key limit, so
# the gateway's own cost is measured rather than its limiter.
GATEWAY_ENVIRONMENT = {
    "CXLOOP_LOG_LEVEL": "WARNING",
    "CXLOOP_RATE_LIMIT_PER_SECOND": "1000000",
    "CXLOOP_RATE_LIMIT_BURST": "1000000",
}


def _ingest_ratios(baseline: Load, single: Load, batch: Load, raw: Load) -> dict[str, float]:
    return {
        "single_event_rate_vs_empty_endpoint": single.rate / baseline.rate,
        "single_event_p99_vs_empty_endpoint_p99": single.percentile(0.99)
        / baseline.percentile(0.99),
        "batch_request_rate_vs_empty_endpoint": batch.rate / baseline.rate,
        "batch_p99_vs_empty_endpoint_p99": batch.percentile(0.99) / baseline.percentile(0.99),
        "single_events_per_s_vs_raw_producer": single.item_rate / raw.item_rate,
        "batched_events_per_s_vs_raw_producer": batch.item_rate / raw.item_rate,
    }


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
