"""`make run`: the whole of cxloop on this machine, with no Docker and no root.

Embedded Postgres (data kept in `.cxloop/`), the embedded Tansu broker, the four
services, a mail catcher; then `examples/cxloop.yaml` is applied and the URLs and
a walk-through are printed. Ctrl-C stops everything.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import threading
from pathlib import Path

from cxloop_devstack.kafka import TansuBroker
from cxloop_devstack.mailcatcher import MailCatcher
from cxloop_devstack.postgres import EmbeddedPostgres
from cxloop_devstack.services import prepare_stack
from cxloop_devstack.stack import StackSettings, start_services

STATE = Path(".cxloop")
EXAMPLE = Path("examples/cxloop.yaml")
KAFKA_PORT = 9092
SMTP_PORT = 1025
MAIL_UI_PORT = 8025


def local_secrets() -> dict[str, str]:
    """Secrets kept across runs, so emailed links keep working after a restart."""
    path = STATE / "secrets.json"
    stored = json.loads(path.read_text()) if path.exists() else {}
    for name in ("admin_token", "link_secret", "internal_token"):
        stored.setdefault(name, secrets.token_urlsafe(24))
    if env_admin := os.environ.get("CXLOOP_ADMIN_TOKEN"):
        stored["admin_token"] = env_admin
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(stored, indent=2))
    path.chmod(0o600)
    return dict(stored)


def cxloop_cli(settings: StackSettings, *args: str) -> str:
    """Run the `cxloop` command line against the local gateway as the admin."""
    env = dict(os.environ)
    env.update(
        {
            "CXLOOP_URL": settings.url("gateway"),
            "CXLOOP_ADMIN_TOKEN": settings.admin_token,
            "CXLOOP_WORKSPACE": "acme",
        }
    )
    done = subprocess.run(
        [sys.executable, "-m", "cxloop_gateway.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"cxloop {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout.strip()


def walkthrough(settings: StackSettings, mail: MailCatcher, ingest_key: str, read_key: str) -> str:
    """What `make run` prints once everything is up."""
    ingest, gateway = settings.url("ingest"), settings.url("gateway")
    return f"""
cxloop is running.

  Dashboard & API (gateway)   {gateway}/        API docs: {gateway}/docs
  Ingest (webhooks, answers)  {ingest}          API docs: {ingest}/docs
  Mail catcher (the inbox)    {mail.http_url}/
  Logs                        {STATE}/logs/

Keys for this run (shown once):
  export INGEST_KEY={ingest_key}
  export READ_KEY={read_key}

Walk-through:
  1. A checkout happens:
     curl -s -X POST {ingest}/v1/events -H "Authorization: Bearer $INGEST_KEY" \\
       -H 'Content-Type: application/json' -d '{{"id": "ord_1001-completed",
       "touchpoint": "checkout", "occurred_at": "2026-11-23T07:00:00Z",
       "customer": {{"id": "c-42", "email": "ana@example.com", "locale": "en-US"}}}}'
  2. Open the survey email in {mail.http_url}/ and click a score
     (or read it as JSON: curl -s {mail.http_url}/api/messages)
  3. Send the answer on the page that opens.
  4. The metric moved:
     curl -s "{gateway}/v1/metrics?touchpoint=checkout" -H "Authorization: Bearer $READ_KEY"
  5. The dashboard: open {gateway}/ and enter $READ_KEY and the journey buy_and_use.

Ctrl-C stops everything.
"""


def main(*, demo: bool = False) -> None:
    """Start the stack and block until Ctrl-C (or SIGTERM)."""
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    found = local_secrets()
    postgres = EmbeddedPostgres(STATE / "postgres")
    broker = TansuBroker(STATE / "kafka", port=KAFKA_PORT)
    mail = MailCatcher(smtp_port=SMTP_PORT, http_port=MAIL_UI_PORT)
    services = {}
    try:
        print("starting Postgres, the Kafka broker and the mail catcher…", flush=True)
        database_url = postgres.start()
        bootstrap = broker.start()
        mail.start()
        prepare_stack(database_url=database_url, bootstrap=bootstrap)
        settings = StackSettings(
            database_url=database_url,
            kafka_bootstrap=bootstrap,
            kafka_idempotence=broker.supports_idempotence,
            admin_token=found["admin_token"],
            link_secret=found["link_secret"],
            internal_token=found["internal_token"],
        )
        print("starting the four services…", flush=True)
        services = start_services(settings, STATE / "logs")
        cxloop_cli(settings, "apply", "-f", str(EXAMPLE))
        ingest_key = cxloop_cli(
            settings,
            "keys",
            "create",
            "--name",
            "make-run-ingest",
            "--scope",
            "events:write",
            "--scope",
            "responses:write",
        )
        read_key = cxloop_cli(
            settings, "keys", "create", "--name", "make-run-read", "--scope", "metrics:read"
        )
        print(walkthrough(settings, mail, ingest_key, read_key), flush=True)
        if demo:
            from cxloop_devstack.demo import feed

            threading.Thread(
                target=feed, args=(settings, ingest_key, stopping), daemon=True
            ).start()
        while not stopping.wait(1.0):
            for name, process in services.items():
                if not process.process.is_running():
                    print(f"{name} stopped unexpectedly:\n{process.process.tail()}", flush=True)
                    stopping.set()
    finally:
        print("\nstopping…", flush=True)
        for process in services.values():
            process.stop()
        mail.stop()
        broker.stop()
        postgres.stop()
