"""`cxloop-scoring [serve|migrate|create-topics|replay-dlq|outbox|rebuild]`."""

from __future__ import annotations

from pathlib import Path

from cxloop_shared.service import command_line

from cxloop_scoring import rebuild
from cxloop_scoring.app import create_app
from cxloop_scoring.settings import Settings

main = command_line(
    service="scoring",
    settings_type=Settings,
    create_app=create_app,
    migrations_dir=Path(__file__).parent / "migrations",
    schema="scoring",
    commands={"rebuild": rebuild.command},
)

if __name__ == "__main__":
    main()
