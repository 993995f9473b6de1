"""The Dockerfiles: each builds its own service from the lockfile and runs it as the code
expects (port, settings, console script, health check), checked without a Docker engine."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.deploy.deploy_support import (
    BY_NAME,
    REPO,
    SERVICES,
    Service,
    migrate_is_a_command,
    undeclared_imports,
    uses_shared_command_line,
)
from tests.deploy.dockerfiles import (
    copy_sources,
    dockerfile_instructions,
    dockerfile_problems,
    dockerignore_patterns,
    hadolint,
    ignored_by_docker,
)

INGEST = BY_NAME["ingest"]


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_each_dockerfile_runs_its_service_as_the_code_expects(service: Service) -> None:
    dockerfile = service.path / "Dockerfile"

    assert dockerfile_problems(service, dockerfile.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (("EXPOSE 8001", "EXPOSE 8000"), "EXPOSE [8000], the service listens on 8001"),
        (("CXLOOP_PORT=8001", "CXLOOP_PORT=8001 CXLOOP_PROT=1"), "CXLOOP_PROT is not a setting"),
        (("CXLOOP_PORT=8001", "CXLOOP_PORT=eighty"), "refuses its settings"),
        (("USER 10001:10001", "USER root"), "runs as user root"),
        (('ENTRYPOINT ["cxloop-ingest"]', 'ENTRYPOINT ["cxloop"]'), "ENTRYPOINT is not"),
        (('CMD ["serve"]', 'CMD ["migrate"]'), "CMD is not ['serve']"),
        (("COPY shared/ shared/", "COPY shared/ shared/\nCOPY bench/ bench/"), "copies bench/"),
        (("COPY shared/ shared/", "COPY shared/ shared/\nCOPY shard/ shard/"), "does not exist"),
        (("--package cxloop-ingest\n", "--package cxloop-gateway\n"), "--package cxloop-ingest"),
        (("/healthz", "/readyz"), "HEALTHCHECK must get /healthz"),
        (("STOPSIGNAL SIGTERM", "STOPSIGNAL SIGKILL"), "STOPSIGNAL is not SIGTERM"),
        (("uv:0.13.8", "uv:0.1.0"), "is not the Makefile's uv"),
    ],
    ids=lambda value: value if isinstance(value, str) else value[1].split()[0],
)
def test_a_dockerfile_that_strays_is_caught(change: tuple[str, str], problem: str) -> None:
    text = (INGEST.path / "Dockerfile").read_text(encoding="utf-8")
    assert change[0] in text

    problems = dockerfile_problems(INGEST, text.replace(change[0], change[1], 1))

    assert any(problem in found for found in problems), problems


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_each_image_installs_every_package_its_code_imports(service: Service) -> None:
    # An image holds only the locked dependencies of its own package and shared/: what the
    # workspace's .venv happens to have as well does not count.
    assert undeclared_imports(service) == []


def test_an_import_the_package_does_not_declare_is_caught(tmp_path: Path) -> None:
    (tmp_path / "pages.py").write_text("import jinja2\n")  # ingest's dependency, not scoring's

    problems = undeclared_imports(BY_NAME["scoring"], also=tmp_path)

    assert any("pages.py:1 imports jinja2" in problem for problem in problems), problems


def test_every_service_runs_serve_by_default_and_migrate_on_request() -> None:
    # The migration jobs run `<script> migrate`; the images' CMD is `serve`.
    assert migrate_is_a_command()
    assert all(uses_shared_command_line(service) for service in SERVICES)


def test_the_images_build_context_keeps_what_the_dockerfiles_copy() -> None:
    patterns = dockerignore_patterns()
    copied = {
        source
        for service in SERVICES
        for instruction in dockerfile_instructions((service.path / "Dockerfile").read_text())
        if instruction.keyword == "COPY"
        for source in copy_sources(instruction)
    }

    assert copied
    assert [source for source in copied if ignored_by_docker(source, patterns)] == []
    # What the context leaves out: the environment, tests, other tooling.
    for path in [".venv/bin", ".git/HEAD", "shared/tests/test_links.py", "devstack/src", "bench"]:
        assert ignored_by_docker(path, patterns), path
    assert ignored_by_docker("shared", [*patterns, "shared"])


def test_hadolint_finds_nothing_to_fix_in_the_dockerfiles() -> None:
    files = [str(service.path / "Dockerfile") for service in SERVICES]

    result = subprocess.run(
        [hadolint(), "--no-color", "--failure-threshold", "info", *files],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_fails_a_dockerfile_with_a_known_mistake() -> None:
    result = subprocess.run(
        [hadolint(), "--no-color", "-"],
        input="FROM python:3.11-slim\nADD app.py /app.py\nCMD python /app.py\n",
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode != 0
    assert "DL3020" in result.stdout  # COPY, not ADD
