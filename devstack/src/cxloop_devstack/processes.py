"""A long-running child process with its output in a log file."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path


class LoggedProcess:
    """Start, stop and inspect one server subprocess whose stdout/stderr go to ``log_path``."""

    def __init__(
        self,
        args: Sequence[str],
        log_path: Path,
        *,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.args = list(args)
        self.log_path = log_path
        self.env = env
        self.cwd = cwd
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """Process id while started, else ``None``."""
        return self._proc.pid if self._proc is not None else None

    def start(self) -> None:
        """Launch the process; its output is appended to the log file."""
        if self.is_running():
            raise RuntimeError(f"already running (pid {self.pid})")
        self._reap()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} start ===\n".encode())
            log.flush()
            self._proc = subprocess.Popen(
                self.args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                # Own session: a Ctrl-C in the terminal reaches us, and we decide how the
                # server goes down (graceful stop) instead of it racing our shutdown.
                start_new_session=True,
            )

    def is_running(self) -> bool:
        """Tell whether the process is alive."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def returncode(self) -> int | None:
        """Exit status once it has exited, else ``None``."""
        return self._proc.poll() if self._proc is not None else None

    def stop(self, timeout: float) -> None:
        """SIGTERM, wait up to ``timeout`` seconds, then SIGKILL."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._reap()

    def kill(self) -> None:
        """SIGKILL the process (simulates a crash) and reap it."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.kill()
        self._reap()

    def tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines of the log, for error messages."""
        try:
            with self.log_path.open("rb") as log:
                log.seek(0, os.SEEK_END)
                log.seek(max(0, log.tell() - 64 * 1024))
                text = log.read().decode(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def _reap(self) -> None:
        # Waiting on the Popen both avoids zombies and the "subprocess is still running"
        # ResourceWarning that filterwarnings=error would turn into a test failure.
        if self._proc is not None:
            self._proc.wait()
            self._proc = None
