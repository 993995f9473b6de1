"""`cxloop-dispatch [serve|migrate]`."""

from pathlib import Path

from cxloop_shared.service import command_line

from cxloop_dispatch.app import create_app
from cxloop_dispatch.settings import Settings

main = command_line(
    service="dispatch",
    settings_type=Settings,
    create_app=create_app,
    migrations_dir=Path(__file__).parent / "migrations",
    schema="dispatch",
)

if __name__ == "__main__":
    main()
