"""The services as the deploy tests know them: from their own code, never restated.

Settings, ports, console scripts, consumed topics and locked dependencies are read from
each service's package, so a change in a service shows up as a failing check of the
deployment file that did not follow. Each `*_problems` function (here, in dockerfiles.py
and in manifests.py) returns readable problems, so a test can also show that a broken file
would be caught. Dockerfiles, docker-compose.yml and the manifests are read by
dockerfiles.py, compose_files.py and manifests.py.
"""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import re
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import Any

from cxloop_shared import topics
from pydantic import ValidationError
from pydantic_settings import BaseSettings

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
ENV_PREFIX = "CXLOOP_"
NON_ROOT_UID = 10001
# The service's shutdown: HTTP drain, then workers, each up to CXLOOP_SHUTDOWN_GRACE_SECONDS.
SHUTDOWN_PHASES = 2


@dataclass(frozen=True)
class Service:
    """One cxloop service as its package defines it."""

    name: str  # compose service, Kubernetes Deployment and Service, Prometheus job
    directory: str  # under services/
    module: str  # import name

    @property
    def path(self) -> Path:
        return REPO / "services" / self.directory

    @cached_property
    def settings(self) -> type[BaseSettings]:
        settings: type[BaseSettings] = importlib.import_module(f"{self.module}.settings").Settings
        return settings

    @property
    def setting_names(self) -> set[str]:
        """Every environment variable the service reads: CXLOOP_ + field name."""
        return {ENV_PREFIX + name.upper() for name in self.settings.model_fields}

    @property
    def port(self) -> int:
        port = self.settings.model_fields["port"].default
        assert isinstance(port, int)
        return port

    @property
    def shutdown_grace_seconds(self) -> float:
        grace = self.settings.model_fields["shutdown_grace_seconds"].default
        assert isinstance(grace, float)
        return grace

    @cached_property
    def project(self) -> dict[str, Any]:
        with (self.path / "pyproject.toml").open("rb") as file:
            return tomllib.load(file)

    @property
    def package(self) -> str:
        name = self.project["project"]["name"]
        assert isinstance(name, str)
        return name

    @property
    def scripts(self) -> dict[str, str]:
        scripts: dict[str, str] = self.project["project"].get("scripts", {})
        return scripts

    @property
    def script(self) -> str:
        """The console script that runs the service (`serve`, `migrate`)."""
        found = [name for name, target in self.scripts.items() if target == self.entry_point]
        assert len(found) == 1, f"{self.package}: no single script for {self.entry_point}"
        return found[0]

    @property
    def entry_point(self) -> str:
        return f"{self.module}.__main__:main"

    @cached_property
    def consumer_groups(self) -> list[list[str]]:
        """The topics of each Kafka consumer the service starts, read from its source."""
        return consumer_groups(self.path / "src" / self.module)

    @property
    def replica_ceiling(self) -> int | None:
        """Most replicas that each get partitions of every topic they read; None: no consumer.

        A replica past a topic's partition count gets none of that topic and sits idle for it.
        """
        consumed = {topic for group in self.consumer_groups for topic in group}
        return min((topics.PARTITIONS[topic] for topic in consumed), default=None)


SERVICES = (
    Service("gateway", "api-gateway", "cxloop_gateway"),
    Service("ingest", "ingest", "cxloop_ingest"),
    Service("dispatch", "survey-dispatch", "cxloop_dispatch"),
    Service("scoring", "scoring", "cxloop_scoring"),
)
BY_NAME = {service.name: service for service in SERVICES}


def consumer_groups(source: Path) -> list[list[str]]:
    """`topics=[...]` of every `BatchConsumer(...)` under `source`, resolved to topic names."""
    groups = []
    for path in sorted(source.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and _called(node) == "BatchConsumer":
                keyword = next((k for k in node.keywords if k.arg == "topics"), None)
                if keyword is None or not isinstance(keyword.value, ast.List | ast.Tuple):
                    raise AssertionError(f"{path}:{node.lineno}: topics=[...] not a literal list")
                groups.append([_topic(element, path) for element in keyword.value.elts])
    return groups


def _called(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def _topic(node: ast.expr, path: Path) -> str:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    name = node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", None)
    value = getattr(topics, name, None) if isinstance(name, str) else None
    if not isinstance(value, str):
        raise AssertionError(f"{path}:{node.lineno}: cannot tell which topic {ast.unparse(node)}")
    return value


def migrate_is_a_command() -> bool:
    """Whether the services' shared command line offers `migrate`, with `serve` the default."""
    source = REPO / "shared" / "src" / "cxloop_shared" / "service.py"
    tree = ast.parse(source.read_text(encoding="utf-8"))
    constants = {
        target.id: node.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }

    def value(node: ast.expr) -> Any:
        if isinstance(node, ast.Name) and node.id in constants:
            node = constants[node.id]
        return ast.literal_eval(node)

    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and _called(node) == "add_argument"):
            continue
        if not node.args or value(node.args[0]) != "command":
            continue
        options = {k.arg: value(k.value) for k in node.keywords if k.arg}
        return options.get("default") == "serve" and "migrate" in options.get("choices", [])
    return False


def uses_shared_command_line(service: Service) -> bool:
    """Whether the service's `main` is the shared `command_line(...)` (serve, migrate)."""
    source = service.path / "src" / service.module / "__main__.py"
    for node in ast.parse(source.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "main" for target in node.targets
        ):
            return isinstance(node.value, ast.Call) and _called(node.value) == "command_line"
    return False


# --- what an image installs --------------------------------------------------------------


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@cache
def _locked() -> dict[str, dict[str, Any]]:
    with (REPO / "uv.lock").open("rb") as file:
        return {_normalized(p["name"]): p for p in tomllib.load(file)["package"]}


@cache
def _providers() -> Mapping[str, list[str]]:
    return importlib.metadata.packages_distributions()


def locked_closure(package: str) -> set[str]:
    """Every distribution `uv sync --frozen --no-dev --package <package>` installs."""
    locked = _locked()
    found: set[str] = set()
    pending: list[tuple[str, tuple[str, ...]]] = [(_normalized(package), ())]
    while pending:
        name, extras = pending.pop()
        entry = locked[name]
        requirements = list(entry.get("dependencies", []))
        for extra in extras:
            requirements += entry.get("optional-dependencies", {}).get(extra, [])
        if name in found and not extras:
            continue
        found.add(name)
        pending += [(_normalized(r["name"]), tuple(r.get("extra", []))) for r in requirements]
    return found


@cache
def imported_modules(source: Path) -> dict[str, str]:
    """Top-level modules imported at run time under `source` (not under TYPE_CHECKING),
    each with one place that imports it."""
    modules: dict[str, str] = {}

    def visit(node: ast.AST, where: str) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for branch in node.orelse:
                visit(branch, where)
            return
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names = [node.module]
        for name in names:
            modules.setdefault(name.split(".")[0], f"{where}:{getattr(node, 'lineno', 0)}")
        for child in ast.iter_child_nodes(node):
            visit(child, where)

    for path in sorted(source.rglob("*.py")):
        where = str(path.relative_to(REPO)) if path.is_relative_to(REPO) else path.name
        visit(ast.parse(path.read_text(encoding="utf-8")), where)
    return modules


def undeclared_imports(service: Service, *, also: Path | None = None) -> list[str]:
    """Imports of the service and shared/ (and `also`) its image would not have installed."""
    installed = locked_closure(service.package)
    providers = _providers()
    sources = [service.path / "src" / service.module, REPO / "shared" / "src" / "cxloop_shared"]
    sources += [also] if also else []
    problems = []
    for source in sources:
        for module, where in imported_modules(source).items():
            if module in sys.stdlib_module_names or module.startswith("cxloop_"):
                continue
            distributions = {_normalized(d) for d in providers.get(module, [])}
            if not distributions & installed:
                provided_by = ", ".join(sorted(distributions)) or "no installed distribution"
                problems.append(
                    f"{where} imports {module} ({provided_by}), which {service.package} "
                    "does not depend on"
                )
    return problems


# --- settings ----------------------------------------------------------------------------


def environment_problems(
    service: Service, environment: Mapping[str, object], *, where: str
) -> list[str]:
    """Variables the service does not read, values it would refuse, required ones missing.

    A value of None stands for one the file does not show (from a Secret).
    """
    problems = [
        f"{where}: {name} is not a setting of {service.name} ({service.settings.__module__})"
        for name in environment
        if name not in service.setting_names
    ]
    for field, info in service.settings.model_fields.items():
        if info.is_required() and ENV_PREFIX + field.upper() not in environment:
            problems.append(f"{where}: required setting {ENV_PREFIX + field.upper()} is not set")
    known = {
        name.removeprefix(ENV_PREFIX).lower(): value
        for name, value in environment.items()
        if name in service.setting_names and value is not None
    }
    try:
        service.settings.model_validate(known)
    except ValidationError as exc:
        problems.append(f"{where}: {service.name} refuses its settings: {exc}")
    return problems


def env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines, as kustomize's `envs:` and Compose's .env read them."""
    pairs = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip()
    return pairs
