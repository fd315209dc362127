"""deploy/: the image and the compose file run the Procfile's processes, as the Procfile says,
on a pinned base, as a user that is not root, with nothing to compile in what runs.

Building the image needs a container runtime and a registry, which `make test` does not ask
for: these tests read the files instead."""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

import pytest
import yaml

from worker.settings import PROJECT_ROOT

DEPLOY = PROJECT_ROOT / "deploy"
PROCESSES = ("release", "web", "worker", "clock")


def procfile() -> dict[str, str]:
    lines = (PROJECT_ROOT / "Procfile").read_text(encoding="utf-8").splitlines()
    found = {}
    for line in lines:
        name, sep, command = line.partition(":")
        if sep:
            found[name.strip()] = command.strip()
    return found


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text("utf-8"))
    return document


def stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's stages, each its (instruction, arguments) lines, continuations joined;
    the ARGs before the first FROM are a stage of their own."""
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    found: list[list[tuple[str, str]]] = [[]]
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        instruction, _, arguments = line.strip().partition(" ")
        if instruction.upper() == "FROM":
            found.append([])
        found[-1].append((instruction.upper(), arguments.strip()))
    return found


def container_command(service: dict[str, Any]) -> str:
    """What a service runs through `sh -c`, with compose's `$$` read as the `$` it stands for."""
    command = service["command"]
    assert command[:2] == ["sh", "-c"], command
    return str(command[2]).replace("$$", "$")


def test_the_procfile_names_the_four_processes() -> None:
    assert sorted(procfile()) == sorted(PROCESSES)


@pytest.mark.parametrize("process", PROCESSES)
def test_each_compose_service_runs_its_procfile_line(process: str) -> None:
    service = compose()["services"][process]

    assert container_command(service) == procfile()[process]
    assert service["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
    assert service["volumes"] == ["ladder-var:/app/var"]


def test_the_image_runs_the_procfile_web_line_by_default() -> None:
    [*_, (instruction, arguments)] = stages()[-1]

    assert instruction == "CMD"
    assert json.loads(arguments) == ["sh", "-c", procfile()["web"]]


def test_the_base_is_python_3_11_slim_bookworm_pinned_to_a_patch_release() -> None:
    [preamble, *built] = stages()
    [(instruction, argument)] = preamble
    assert instruction == "ARG"
    name, _, image = argument.partition("=")
    assert name == "PYTHON_IMAGE"
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", image), image
    assert [stage[0] for stage in built] == [
        ("FROM", "${PYTHON_IMAGE} AS build"),
        ("FROM", "${PYTHON_IMAGE} AS run"),
    ]


def test_the_build_installs_from_constraints_txt() -> None:
    runs = [arguments for instruction, arguments in stages()[1] if instruction == "RUN"]

    installs = [shlex.split(cmd) for run in runs for cmd in run.split("&&") if "install" in cmd]
    assert any(
        "-c" in words and words[words.index("-c") + 1] == "constraints.txt" for words in installs
    ), installs


def test_what_runs_is_not_root_and_holds_no_build_tools() -> None:
    run = stages()[-1]
    users = [arguments for instruction, arguments in run if instruction == "USER"]
    commands = " ".join(arguments for instruction, arguments in run if instruction == "RUN")

    assert users and users[-1].split(":")[0] not in ("root", "0")
    for tool in ("apt-get", "gcc", "build-essential", "pip install"):
        assert tool not in commands
    copied = [arguments for instruction, arguments in run if instruction == "COPY"]
    assert copied == ["--from=build /opt/venv /opt/venv", "--from=build /app /app"]


def test_the_migrations_run_once_postgres_is_up_and_before_every_other_process() -> None:
    services = compose()["services"]

    assert services["release"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert services["release"]["restart"] == "no"
    for process in ("web", "worker", "clock"):
        assert services[process]["depends_on"] == {
            "release": {"condition": "service_completed_successfully"},
            "redis": {"condition": "service_healthy"},
        }
    urls = services["web"]["environment"]
    assert urls["DATABASE_URL"].startswith("postgresql://ladder:")
    assert urls["DATABASE_URL"].endswith("@postgres:5432/ladder")
    assert urls["REDIS_URL"] == "redis://redis:6379/0"


def test_the_image_leaves_out_what_it_must_not_carry() -> None:
    ignored = (PROJECT_ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()

    for path in (".git", ".venv", "var", ".env", "deploy/.env"):
        assert path in ignored


def test_the_example_environment_names_what_production_refuses_to_start_without() -> None:
    text = (DEPLOY / ".env.example").read_text(encoding="utf-8")
    names = {line.split("=")[0] for line in text.splitlines() if "=" in line}

    required = {"LADDER_SECRET_KEY", "LADDER_API_TOKEN", "SHOP_NAME", "SENDER", "POSTAL_ADDRESS"}
    assert required | {"PUBLIC_URL", "SHOP_URL", "POSTGRES_PASSWORD"} <= names
