"""`cxloop-gateway [serve|migrate]`."""

from __future__ import annotations

from pathlib import Path

from cxloop_shared.service import command_line

from cxloop_gateway.app import create_app
from cxloop_gateway.settings import Settings

main = command_line(
    service="gateway",
    settings_type=Settings,
    create_app=create_app,
    migrations_dir=Path(__file__).parent / "migrations",
    schema="gateway",
)

if __name__ == "__main__":
    main()
