"""`cxloop-ingest [serve|migrate]`."""

from pathlib import Path

from cxloop_shared.service import command_line

from cxloop_ingest.app import create_app
from cxloop_ingest.settings import Settings

main = command_line(
    service="ingest",
    settings_type=Settings,
    create_app=create_app,
    migrations_dir=Path(__file__).parent / "migrations",
    schema="ingest",
)

if __name__ == "__main__":
    main()
