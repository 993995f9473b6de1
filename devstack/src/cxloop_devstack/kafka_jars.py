"""Apache Kafka's jars, fetched once by Maven from Maven Central and cached."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

KAFKA_VERSION = "4.1.1"
_MARKER = ".complete"
_MAVEN_TIMEOUT_S = 900


def kafka_pom() -> Path:
    """The pom listing the broker's runtime dependencies (``deploy/kafka/pom.xml``).

    ``CXLOOP_KAFKA_POM`` overrides it; otherwise it is looked up from this source tree and
    then from the current directory.
    """
    override = os.environ.get("CXLOOP_KAFKA_POM")
    if override:
        return Path(override)
    candidates = [
        Path(__file__).resolve().parents[3] / "deploy" / "kafka" / "pom.xml",
        Path.cwd() / "deploy" / "kafka" / "pom.xml",
    ]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"deploy/kafka/pom.xml not found (tried {candidates})")


def kafka_cache_dir() -> Path:
    """Where the jars are cached: ``$CXLOOP_KAFKA_CACHE`` or ``~/.cache/cxloop/kafka-4.1.1``."""
    override = os.environ.get("CXLOOP_KAFKA_CACHE")
    if override:
        return Path(override).expanduser()
    return Path.home() / ".cache" / "cxloop" / f"kafka-{KAFKA_VERSION}"


def ensure_kafka_jars(cache_dir: Path | None = None) -> Path:
    """Return a directory holding every jar the broker needs, running Maven if needed.

    The copy lands in a scratch directory that is renamed into place only once Maven
    succeeded, with a marker naming the pom's hash, so an interrupted download or an edited
    pom is redone instead of half-used.
    """
    cache = cache_dir or kafka_cache_dir()
    lib = cache / "lib"
    try:
        pom = kafka_pom()
    except FileNotFoundError:
        # Installed without the source tree: a complete cache is still usable as is.
        if (lib / _MARKER).exists():
            return lib
        raise
    stamp = hashlib.sha256(pom.read_bytes()).hexdigest()
    if _is_complete(lib, stamp):
        return lib
    cache.mkdir(parents=True, exist_ok=True)
    # Parallel test sessions or services may all want the jars at the same moment.
    with (cache / ".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _is_complete(lib, stamp):
            return lib
        scratch = cache / f"lib.partial-{os.getpid()}"
        shutil.rmtree(scratch, ignore_errors=True)
        _copy_dependencies(pom, scratch)
        (scratch / _MARKER).write_text(stamp + "\n")
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(lib)
        scratch.rename(lib)
    return lib


def _is_complete(lib: Path, stamp: str) -> bool:
    try:
        return (lib / _MARKER).read_text().strip() == stamp
    except OSError:
        return False


def _copy_dependencies(pom: Path, output: Path) -> None:
    if shutil.which("mvn") is None:
        raise RuntimeError("Maven (mvn) is not on PATH: it is needed once to fetch Kafka's jars")
    command = [
        "mvn",
        "-q",
        "-B",
        "-Dstyle.color=never",
        "-f",
        str(pom),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={output}",
        "-DincludeScope=runtime",
    ]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=_MAVEN_TIMEOUT_S,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    if result.returncode != 0:
        shutil.rmtree(output, ignore_errors=True)
        raise RuntimeError(
            f"fetching Kafka jars failed ({' '.join(command)}):\n{result.stdout}\n{result.stderr}"
        )
    if not any(output.glob("kafka_2.13-*.jar")):
        raise RuntimeError(f"Maven finished but {output} holds no kafka_2.13 jar")
