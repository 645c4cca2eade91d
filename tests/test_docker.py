"""docker/ and docs/operations.md, checked without a Docker engine (CI machines have none).

What can go wrong there without anyone noticing until a deployment: a compose file that refers to
a volume, secret or service it does not define; a `convnas` or `ray` command or flag that does not
exist (or no longer does); a CONVNAS_* variable that no code reads; a file a Dockerfile copies
that is not there or that the ignore file hides; a CUDA PyTorch in the CPU image (or a CPU one in
the GPU image); Ray or PyTorch pins outside what the project requires; Ray nodes without the
shared token; storage not shared between the runner and the workers; the API's health check.
Every name is compared with the installed CLIs and the settings classes, introspected.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import typer
import uvicorn
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parent.parent
DOCKER = ROOT / "docker"
COMPOSE = DOCKER / "compose.yaml"
CPU_IMAGE, GPU_IMAGE = DOCKER / "Dockerfile", DOCKER / "Dockerfile.gpu"
DOCKERFILES = (CPU_IMAGE, GPU_IMAGE)
GUIDE = ROOT / "docs" / "operations.md"
MARKDOWN = (GUIDE, DOCKER / "README.md", ROOT / "README.md")
SERVICES = {"postgres", "ray-head", "gpu-worker", "runner", "api"}
RAY_SERVICES = {"ray-head", "gpu-worker", "runner"}
# The runner container's command: its Ray node and the runner, supervised together.
RUNNER_NODE = DOCKER / "runner-node.sh"
SECRETS_DIR = "/run/secrets/"


def load_script(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


settings_table = load_script(ROOT / "docs" / "settings_table.py", "settings_table")
healthcheck = load_script(DOCKER / "healthcheck.py", "convnas_healthcheck")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return data


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


# --------------------------------------------------------------------------------------------
# Dockerfiles: instructions, ARG defaults
# --------------------------------------------------------------------------------------------


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined: list[str] = []
    pending = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        joined.append(pending + line)
        pending = ""
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in joined]


def arg_defaults(path: Path) -> dict[str, str]:
    found = {}
    for op, rest in instructions(path):
        if op == "ARG" and "=" in rest:
            name, _, value = rest.partition("=")
            found[name.strip()] = value.strip().strip('"')
    return found


def substitute(text: str, values: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}", lambda m: values.get(m.group(1), m.group(0)), text)


def pip_installs(path: Path) -> list[str]:
    """Each `pip install ...` of the Dockerfile's RUN lines, ARGs filled in."""
    values = arg_defaults(path)
    found = []
    for op, rest in instructions(path):
        if op == "RUN":
            for part in re.split(r"&&", rest):
                if "pip install" in part:
                    found.append(substitute(part.strip(), values))
    return found


def project_requirement(name: str) -> Requirement:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    for line in data["project"]["dependencies"]:
        requirement = Requirement(line)
        if requirement.name == name:
            return requirement
    raise AssertionError(f"pyproject.toml does not require {name}")


def pinned(install: str, name: str) -> str | None:
    """The version ``install`` pins ``name`` (with or without extras) to, else None."""
    for word in shlex.split(install):
        if re.match(rf"^{name}(\[[\w,-]+\])?==", word):
            return word.split("==", 1)[1]
    return None


def torch_install(path: Path) -> str:
    (line,) = [p for p in pip_installs(path) if pinned(p, "torch")]
    return line


def test_both_images_share_python_ray_and_torch_versions() -> None:
    cpu, gpu = arg_defaults(CPU_IMAGE), arg_defaults(GPU_IMAGE)
    for name in ("PYTHON_VERSION", "RAY_VERSION", "TORCH_VERSION"):
        assert cpu[name] == gpu[name], name
    assert cpu["PYTHON_DIGEST"] == gpu["PYTHON_DIGEST"]
    assert re.fullmatch(r"3\.\d+\.\d+", cpu["PYTHON_VERSION"])  # the patch too: Ray checks it
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", cpu["PYTHON_DIGEST"])
    froms = [[rest for op, rest in instructions(p) if op == "FROM"] for p in DOCKERFILES]
    assert froms[0] == froms[1] == ["python:${PYTHON_VERSION}-slim@${PYTHON_DIGEST}"]


def test_dependencies_are_installed_before_the_source_is_copied() -> None:
    """A change to the code then rebuilds only the project's layer, not Ray's and torch's."""
    for path in DOCKERFILES:
        steps = instructions(path)
        first_source = next(i for i, (op, rest) in enumerate(steps) if rest.startswith("space "))
        ray = next(i for i, (op, rest) in enumerate(steps) if op == "RUN" and "ray[" in rest)
        project = next(i for i, (op, rest) in enumerate(steps) if "--no-deps ." in rest)
        assert ray < first_source < project, path.name
        assert "ray[default," in steps[ray][1]  # the dashboard and Ray Client need `default`


def test_pins_lie_in_the_project_requirements() -> None:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    for path in DOCKERFILES:
        args = arg_defaults(path)
        assert SpecifierSet(data["project"]["requires-python"]).contains(args["PYTHON_VERSION"])
        installs = pip_installs(path)
        ray = [pinned(line, "ray") for line in installs if pinned(line, "ray")]
        assert ray == [args["RAY_VERSION"]], f"{path.name}: one pinned ray install"
        assert project_requirement("ray").specifier.contains(args["RAY_VERSION"])
        assert pinned(torch_install(path), "torch") == args["TORCH_VERSION"]
        assert project_requirement("torch").specifier.contains(args["TORCH_VERSION"])


def test_cpu_image_installs_the_cpu_torch_wheel() -> None:
    words = shlex.split(torch_install(CPU_IMAGE))
    assert words[words.index("--index-url") + 1] == "https://download.pytorch.org/whl/cpu"
    assert "--extra-index-url" not in words  # a CUDA wheel from PyPI must not win


def test_gpu_image_installs_a_cuda_torch_build() -> None:
    words = shlex.split(torch_install(GPU_IMAGE))
    index = words[words.index("--index-url") + 1]
    assert re.fullmatch(r"https://download\.pytorch\.org/whl/cu\d{3}", index), index
    env = " ".join(rest for op, rest in instructions(GPU_IMAGE) if op == "ENV")
    assert "NVIDIA_DRIVER_CAPABILITIES=compute,utility" in env


def test_the_project_install_comes_after_torch() -> None:
    """pip then keeps the torch build the image chose instead of fetching PyPI's."""
    for path in DOCKERFILES:
        installs = pip_installs(path)
        first = installs.index(torch_install(path))
        project = [i for i, line in enumerate(installs) if " ." in line or line.endswith(".")]
        assert project and project[0] > first, path.name


def test_every_copied_file_exists_and_is_in_the_build_context() -> None:
    for path in DOCKERFILES:
        ignore = (path.parent / (path.name + ".dockerignore")).read_text(encoding="utf-8")
        included = {line[1:].rstrip("/") for line in ignore.splitlines() if line.startswith("!")}
        copies = [rest.split() for op, rest in instructions(path) if op == "COPY"]
        assert copies, path.name
        for words in copies:
            assert not any(w.startswith("--from") for w in words)
            for source in words[:-1]:
                assert (ROOT / source).exists(), f"{path.name} copies {source}: missing"
                assert source.rstrip("/") in included, f"{path.name}: {source} is ignored"


# --------------------------------------------------------------------------------------------
# compose.yaml: structure
# --------------------------------------------------------------------------------------------


def test_compose_defines_the_stack(compose: dict[str, Any]) -> None:
    assert set(services(compose)) == SERVICES
    for name, service in services(compose).items():
        assert "image" in service, f"{name}: no image"
        build = service.get("build")
        if build is not None:
            assert (COMPOSE.parent / build["context"]).resolve() == ROOT, name
            assert (ROOT / build["dockerfile"]).is_file(), name
    by_image: dict[str, list[str]] = {}
    for name, service in services(compose).items():
        if "build" in service:
            by_image.setdefault(service["image"], []).append(name)
    # Each image is built by one service (two building one tag race on a first build); the
    # others that run it never pull it: it exists only where it was built.
    assert all(len(builders) == 1 for builders in by_image.values()), by_image
    for name, service in services(compose).items():
        if service["image"] in by_image and "build" not in service:
            assert service["pull_policy"] == "never", name


def test_every_service_has_a_health_check(compose: dict[str, Any]) -> None:
    for name, service in services(compose).items():
        test = service.get("healthcheck", {}).get("test")
        assert isinstance(test, list) and test[0] in ("CMD", "CMD-SHELL") and test[1:], name
    checks = {name: s["healthcheck"]["test"][1:] for name, s in services(compose).items()}
    assert checks["postgres"][0] == "pg_isready"
    for name in RAY_SERVICES:
        assert checks[name] == ["ray", "status"], name
    assert checks["api"][0] == "convnas-healthcheck"


def test_api_health_check_calls_the_health_route(compose: dict[str, Any]) -> None:
    from api.app import API_PREFIX
    from api.routes.health import router

    url = services(compose)["api"]["healthcheck"]["test"][-1]
    paths = {API_PREFIX + getattr(route, "path", "") for route in router.routes}
    assert url.startswith("http://127.0.0.1:8000/")
    assert "/" + url.split("/", 3)[3] in paths
    assert "8000" in services(compose)["api"]["command"]


def test_postgres_check_and_url_name_the_same_database(compose: dict[str, Any]) -> None:
    postgres = services(compose)["postgres"]
    env = postgres["environment"]
    check = postgres["healthcheck"]["test"]
    assert check[check.index("-U") + 1] == env["POSTGRES_USER"]
    assert check[check.index("-d") + 1] == env["POSTGRES_DB"]
    # The URL is a secret file, written by the setup lines at the top of compose.yaml.
    (setup,) = [
        line for line in COMPOSE.read_text().splitlines() if "> secrets/database_url" in line
    ]
    match = re.search(
        r"postgresql://(\w+):\$\(cat secrets/postgres_password\)@(\w+):5432/(\w+)", setup
    )
    assert match, setup
    assert match.groups() == (env["POSTGRES_USER"], "postgres", env["POSTGRES_DB"])
    assert env["POSTGRES_PASSWORD_FILE"] == SECRETS_DIR + "postgres_password"
    for name, service in services(compose).items():
        environment = service.get("environment", {})
        assert "CONVNAS_DATABASE_URL" not in environment, name  # never in the environment
        if "CONVNAS_DATABASE_URL_FILE" in environment:
            assert environment["CONVNAS_DATABASE_URL_FILE"] == SECRETS_DIR + "database_url"
            assert "database_url" in service["secrets"], name


def mount(text: str) -> tuple[str, str]:
    """``SOURCE:TARGET[:ro]`` -> (SOURCE, TARGET); SOURCE may hold ``${VAR:-default}``."""
    source, _, target = text.removesuffix(":ro").removesuffix(":rw").rpartition(":")
    return source, target


def test_volumes_secrets_and_dependencies_are_defined(compose: dict[str, Any]) -> None:
    used_volumes, used_secrets = set(), set()
    for name, service in services(compose).items():
        for source, _ in map(mount, service.get("volumes", [])):
            if not source.startswith((".", "/", "$", "~")):
                assert source in compose["volumes"], f"{name}: volume {source} is not defined"
                used_volumes.add(source)
        for secret in service.get("secrets", []):
            assert secret in compose["secrets"], f"{name}: secret {secret} is not defined"
            used_secrets.add(secret)
        for target, rule in service.get("depends_on", {}).items():
            assert target in SERVICES and target != name, f"{name} depends on {target}"
            if rule["condition"] == "service_healthy":
                assert "healthcheck" in services(compose)[target]
    assert used_volumes == set(compose["volumes"])
    assert used_secrets == set(compose["secrets"])
    ignored = (DOCKER / ".gitignore").read_text(encoding="utf-8").split()
    for secret in compose["secrets"].values():
        assert secret["file"].startswith("./secrets/") and "secrets/" in ignored
    assert ".env" in ignored


def test_runner_and_workers_share_storage_at_the_configured_paths(
    compose: dict[str, Any],
) -> None:
    """A checkpoint a worker writes must be where the runner and the API look for it."""
    for setting in ("CONVNAS_RUNS_DIR", "CONVNAS_DATA_DIR", "CONVNAS_DATA_ROOTS"):
        sources = {}
        for name, service in services(compose).items():
            path = service.get("environment", {}).get(setting)
            if path is None:
                continue
            mounts = {target: source for source, target in map(mount, service.get("volumes", []))}
            assert path in mounts, f"{name}: {setting}={path} is not a mounted volume"
            sources[name] = mounts[path]
        assert {"runner", "gpu-worker", "api"} <= set(sources), setting
        assert len(set(sources.values())) == 1, f"{setting}: {sources}"


def test_every_ray_container_uses_the_shared_token(compose: dict[str, Any]) -> None:
    for name, service in services(compose).items():
        command = service.get("command") or image_command(service)
        if command[:1] == ["convnas-runner-node"]:
            command = [RUNNER_NODE.read_text(encoding="utf-8")]
        runs_ray = "ray start" in " ".join(command)
        assert runs_ray == (name in RAY_SERVICES), name
        if not runs_ray:
            continue
        env = service["environment"]
        assert env["RAY_AUTH_MODE"] == "token", name
        token = env["RAY_AUTH_TOKEN_PATH"]
        assert token.startswith(SECRETS_DIR), name
        assert token.removeprefix(SECRETS_DIR) in service["secrets"], name


def test_the_ray_address_is_the_head(compose: dict[str, Any]) -> None:
    head = services(compose)["ray-head"]["command"]
    port = next(a.split("=")[1] for a in head if a.startswith("--port="))
    for name in RAY_SERVICES - {"ray-head"}:
        env = services(compose)[name]["environment"]
        assert env["CONVNAS_RAY_ADDRESS"] == f"ray-head:{port}", name
    # The runner's node offers nothing, so no trial is placed beside the driver.
    assert services(compose)["runner"]["command"][0] == "convnas-runner-node"
    script = RUNNER_NODE.read_text(encoding="utf-8")
    assert "--num-cpus=0" in script and "--num-gpus=0" in script


def test_the_runner_and_its_ray_node_live_and_die_together() -> None:
    """docker/runner-node.sh: valid bash that ends the container when either process ends (so
    the restart policy starts both again) and stops the runner first on SIGTERM."""
    import subprocess

    script = RUNNER_NODE.read_text(encoding="utf-8")
    assert subprocess.run(["bash", "-n", str(RUNNER_NODE)], check=False).returncode == 0
    assert 'wait -n "$node" "$runner"' in script and "trap" in script
    assert "--object-store-memory=" in script
    copied = [rest for op, rest in instructions(CPU_IMAGE) if op == "COPY"]
    assert "docker/runner-node.sh /usr/local/bin/convnas-runner-node" in copied


def test_every_ray_node_sizes_its_object_store_below_its_shared_memory(
    compose: dict[str, Any],
) -> None:
    """Ray keeps its object store in /dev/shm; a store larger than the container's shared
    memory falls back to /tmp (slowly). The defaults: 1e9 bytes in 2 GB."""
    example = env_example()
    store, shm = int(example["RAY_OBJECT_STORE_MEMORY"]), example["RAY_SHM_SIZE"]
    assert shm.endswith("gb") and store < int(shm[:-2]) * 1024**3
    head = services(compose)["ray-head"]["command"]
    assert "--object-store-memory=${RAY_OBJECT_STORE_MEMORY:-1000000000}" in head
    (gpu_cmd,) = [rest for op, rest in instructions(GPU_IMAGE) if op == "CMD"]
    assert "--object-store-memory" in gpu_cmd
    for name in RAY_SERVICES:
        assert services(compose)[name]["shm_size"] == "${RAY_SHM_SIZE:-2gb}", name


def test_gpu_worker_reserves_nvidia_gpus(compose: dict[str, Any]) -> None:
    worker = services(compose)["gpu-worker"]
    (device,) = worker["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
    assert worker["build"]["dockerfile"] == "docker/Dockerfile.gpu"


def compose_variables() -> set[str]:
    return set(re.findall(r"\$\{(\w+)", COMPOSE.read_text(encoding="utf-8")))


def env_example() -> dict[str, str]:
    lines = (DOCKER / ".env.example").read_text(encoding="utf-8").splitlines()
    pairs = [line.split("=", 1) for line in lines if line.strip() and not line.startswith("#")]
    return {name.strip(): value for name, value in pairs}


def test_env_example_lists_the_variables_compose_reads() -> None:
    example = env_example()
    assert compose_variables() == set(example)
    assert not [name for name in example if "PASSWORD" in name or "TOKEN" in name]  # secrets/
    assert not [name for name in example if name.startswith("CONVNAS_")]


# --------------------------------------------------------------------------------------------
# Commands, flags and settings named in the files
# --------------------------------------------------------------------------------------------


def image_command(service: dict[str, Any]) -> list[str]:
    """The CMD of the Dockerfile a service's image is built from."""
    dockerfile = ROOT / service["build"]["dockerfile"] if "build" in service else None
    if dockerfile is None:
        return []
    (cmd,) = [rest for op, rest in instructions(dockerfile) if op == "CMD"]
    words: list[str] = json.loads(cmd)
    return words


def shell_lines(words: list[str]) -> list[str]:
    """A command as shell lines: the script of ``sh -c SCRIPT``, else the words quoted."""
    if words[:2] == ["sh", "-c"]:
        return words[2].splitlines()
    return [shlex.join(words)]


def markdown_code(path: Path) -> list[str]:
    """The lines of a Markdown file's code blocks, and its inline code spans (a span may wrap
    onto the next line of its paragraph)."""
    lines: list[str] = []
    fenced = False
    paragraph: list[str] = []
    for line in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        if line.startswith("```") or not line.strip() or fenced:
            # a table cell escapes the pipe of `--json\|--csv`
            lines += re.findall(r"`([^`]+)`", " ".join(paragraph).replace("\\|", "|"))
            paragraph = []
        if line.startswith("```"):
            fenced = not fenced
        elif fenced:
            lines.append(line)
        elif line.strip():
            paragraph.append(line)
    return lines


def logical(lines: list[str]) -> list[str]:
    """Lines with backslash continuations joined."""
    out: list[str] = []
    pending = ""
    for line in lines:
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
        else:
            out.append(pending + line)
            pending = ""
    return out


def command_lines() -> dict[str, list[str]]:
    """Every shell line the deployment files and guides show or run, by file."""
    found: dict[str, list[str]] = {}
    compose = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    lines = []
    for service in compose["services"].values():
        for words in (service.get("command"), service.get("healthcheck", {}).get("test")):
            if words:
                lines += shell_lines([w for w in words if w not in ("CMD", "CMD-SHELL")])
    found["compose.yaml"] = lines
    for path in DOCKERFILES:
        found[path.name] = [
            line
            for op, rest in instructions(path)
            if op in ("CMD", "ENTRYPOINT")
            for line in shell_lines(json.loads(rest))
        ]
    for path in MARKDOWN:
        found[path.name] = markdown_code(path)
    return {name: logical(lines) for name, lines in found.items()}


def invocations(lines: list[str], program: str) -> Iterator[list[str]]:
    """The arguments of every call of ``program`` in ``lines``: first in a command (also after
    ``&&``, ``|``, ``;``), after ``exec``, or after the service of ``docker compose exec|run``."""
    for line in lines:
        for segment in re.split(r"&&|\|\||[|;()]", line):
            try:
                words = shlex.split(segment, comments=True)
            except ValueError:
                words = segment.split()
            for i, word in enumerate(words):
                before = words[i - 1] if i else None
                in_compose = words[:2] == ["docker", "compose"] and before in SERVICES
                if word == program and (i == 0 or before == "exec" or in_compose):
                    yield words[i + 1 :]
                    break


def problem(root: Any, program: str, args: list[str]) -> str | None:
    """Why ``program args`` is not a valid command line of ``root`` (a click command, or
    typer's copy of one: both have ``commands`` on groups and ``params``), or None."""
    command, path = root, [program]
    rest = [a.strip("[]") for a in args]  # usage lines write optional flags as [--port N]
    while rest and hasattr(command, "commands") and not rest[0].startswith("-"):
        name = rest.pop(0)
        sub = command.commands.get(name)
        if sub is None:
            return f"{' '.join(path)} has no command {name!r}"
        command, path = sub, [*path, name]
    options = {"--help"}
    for param in command.params:
        options.update(param.opts + param.secondary_opts)
    unknown = [a.split("=", 1)[0] for a in rest if a.startswith("-")]
    unknown = [a for a in unknown if a not in options]
    return f"{' '.join(path)} has no option {', '.join(unknown)}" if unknown else None


def convnas_cli() -> Any:
    from api.cli import app

    return typer.main.get_command(app)


def ray_cli() -> Any:
    from ray.scripts.scripts import cli

    return cli


@pytest.mark.parametrize("program", ["convnas", "ray"])
def test_every_command_and_flag_named_exists(program: str) -> None:
    root = convnas_cli() if program == "convnas" else ray_cli()
    seen, problems = 0, []
    for name, lines in command_lines().items():
        for args in invocations(lines, program):
            seen += 1
            why = problem(root, program, args)
            if why:
                problems.append(f"{name}: {program} {shlex.join(args)}: {why}")
    assert not problems, "\n".join(problems)
    assert seen >= 10  # the files do name commands: the extraction found them


def test_the_checker_refuses_what_does_not_exist() -> None:
    root = convnas_cli()
    assert problem(root, "convnas", ["runner", "--max-searches", "2"]) is None
    assert problem(root, "convnas", ["search", "resume", "3", "--server", "U"]) is None
    assert "no command 'db'" in str(problem(root, "convnas", ["db", "upgrade"]))
    assert "no command" in str(problem(root, "convnas", ["search", "restart", "3"]))
    assert "--workers" in str(problem(root, "convnas", ["runner", "--workers=2"]))
    assert "--gpus" in str(problem(ray_cli(), "ray", ["start", "--head", "--gpus=1"]))


def known_variables() -> set[str]:
    return {variable.name for variable in settings_table.variables()}


def test_every_convnas_variable_named_is_a_setting() -> None:
    known = known_variables()
    # The table is the one settings class: every field, the workers' and the CLI's too.
    from space.settings import Settings

    assert known == {f"CONVNAS_{name.upper()}" for name in Settings.model_fields}
    assert {"CONVNAS_THREADS", "CONVNAS_SERVER"} <= known
    files = [COMPOSE, *DOCKERFILES, *MARKDOWN, DOCKER / ".env.example", DOCKER / "healthcheck.py"]
    named = {
        (path.name, name)
        for path in files
        for name in re.findall(r"CONVNAS_[A-Z0-9_]+", path.read_text(encoding="utf-8"))
    }
    assert {name for _, name in named} >= {"CONVNAS_DATABASE_URL", "CONVNAS_RAY_ADDRESS"}
    # read by the test suite only (the README tells contributors about it), never by convnas
    tests_only = {"CONVNAS_TEST_POSTGRES_URL"}
    assert all(
        any(name in p.read_text(encoding="utf-8") for p in (ROOT / "tests").rglob("*.py"))
        for name in tests_only
    )
    unknown = sorted(f"{path}: {name}" for path, name in named if name not in known | tests_only)
    assert not unknown, unknown


def test_the_guide_documents_every_setting_as_the_code_has_it() -> None:
    _, table, _ = settings_table.split_guide(GUIDE.read_text(encoding="utf-8"))
    assert table.strip() == settings_table.markdown(), "run python docs/settings_table.py --write"
    rows = {line.split("`")[1] for line in table.splitlines() if line.startswith("| `")}
    assert rows == known_variables()


def test_settings_table_script_checks_the_guide() -> None:
    script = str(ROOT / "docs" / "settings_table.py")
    done = subprocess.run(
        [sys.executable, script, "--check"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


def spec_field(path: str) -> bool:
    """Whether ``search.resources.gpu`` (a dotted path of spec fields) is a field of the spec."""
    from pydantic import BaseModel

    from space.spec import SearchSpec

    model: Any = SearchSpec
    for name in path.split("."):
        fields = model.model_fields if model is not None else {}
        if name not in fields:
            return False
        annotation = fields[name].annotation
        options = [annotation, *getattr(annotation, "__args__", ())]
        model = next((o for o in options if isinstance(o, type) and issubclass(o, BaseModel)), None)
    return True


def test_every_spec_setting_named_exists() -> None:
    """`search.resources.gpu` and the like in the guides are fields of the spec; a dotted name
    that is not must be a module (`search.run.runner`)."""
    named = set()
    for path in MARKDOWN:
        for code in markdown_code(path):
            named.update(re.findall(r"(?<![\w.])(search(?:\.\w+)+)", code))
    assert {"search.resources", "search.retries"} <= named
    assert not spec_field("search.resources.gpus")  # the check can fail

    def module(name: str) -> bool:
        path = ROOT.joinpath(*name.split("."))
        return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()

    def module_attribute(name: str) -> bool:  # search.run.optuna_bridge.tpe_startup
        owner, _, attribute = name.rpartition(".")
        return module(owner) and hasattr(importlib.import_module(owner), attribute)

    unknown = sorted(
        n for n in named if not spec_field(n) and not module(n) and not module_attribute(n)
    )
    assert not unknown, unknown


# --------------------------------------------------------------------------------------------
# The API container's health check, against a real server
# --------------------------------------------------------------------------------------------


@contextmanager
def live_server(db_url: str, **settings: Any) -> Iterator[str]:
    """The real app on a free loopback port (uvicorn in a thread); its health URL."""
    from api.app import API_PREFIX, create_app
    from api.settings import ApiSettings

    app = create_app(ApiSettings(database_url=db_url, **settings))
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}{API_PREFIX}/health"
    finally:
        server.should_exit = True
        thread.join(20)


@pytest.fixture
def no_api_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("CONVNAS_API_TOKEN", "CONVNAS_API_TOKENS_FILE", "CONVNAS_API_READ"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_healthcheck_passes_on_a_healthy_server(tmp_path: Path, no_api_env: Any) -> None:
    with live_server(f"sqlite:///{tmp_path / 'ok.db'}") as url:
        assert healthcheck.check(url) == (True, "ok")
        done = subprocess.run(
            [sys.executable, str(DOCKER / "healthcheck.py"), url],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 0, done.stderr


def test_healthcheck_sends_the_token_when_reads_are_private(
    tmp_path: Path, no_api_env: pytest.MonkeyPatch
) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text("# rotated 2026-11\nsecret-one\nsecret-two\n", encoding="utf-8")
    db = f"sqlite:///{tmp_path / 'private.db'}"
    with live_server(db, api_tokens_file=tokens, api_read="token") as url:
        ok, why = healthcheck.check(url)
        assert not ok and "HTTP 401" in why  # no token configured in this environment
        no_api_env.setenv("CONVNAS_API_READ", "token")
        no_api_env.setenv("CONVNAS_API_TOKENS_FILE", str(tokens))
        assert healthcheck.check(url) == (True, "ok")
        no_api_env.setenv("CONVNAS_API_TOKEN", "wrong")
        ok, why = healthcheck.check(url)
        assert not ok and "HTTP 403" in why


def test_healthcheck_fails_when_nothing_answers(no_api_env: Any) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ok, why = healthcheck.check(f"http://127.0.0.1:{port}/api/v1/health")
    assert not ok and str(port) in why


# --------------------------------------------------------------------------------------------
# Ray's token authentication, shared as a file (what every Ray container of compose.yaml does)
# --------------------------------------------------------------------------------------------

RAY = str(Path(sys.executable).with_name("ray"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def ray_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
    return {**env, "RAY_USAGE_STATS_ENABLED": "0", **values}


@contextmanager
def ray_head(env: dict[str, str]) -> Iterator[str]:
    """``ray start --head --block`` on a loopback port, as compose's head runs it; its address.
    Stopped (its whole process group) at the end, also when the test fails."""
    port = free_port()
    temp = tempfile.mkdtemp(prefix="cnray", dir="/tmp")  # short: Ray's socket paths are bounded
    command = [RAY, "start", "--head", "--block", f"--port={port}", "--num-cpus=1"]
    command += ["--num-gpus=0", "--include-dashboard=false", f"--temp-dir={temp}"]
    command += ["--node-ip-address=127.0.0.1", f"--dashboard-agent-listen-port={free_port()}"]
    head = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        yield f"127.0.0.1:{port}"
    finally:
        head.send_signal(signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            head.wait(timeout=30)
        with suppress(ProcessLookupError):
            os.killpg(head.pid, signal.SIGKILL)  # whatever of its group is left
        head.wait()
        shutil.rmtree(temp, ignore_errors=True)


def ray_status(address: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [RAY, "status", f"--address={address}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )


DRIVER = """
import ray
from search.run.tune_adapters import ensure_ray

ensure_ray({address!r}, None)
print("cpus", ray.cluster_resources().get("CPU"))
print("task", ray.get(ray.remote(lambda: 6 * 7).remote()))
"""


@pytest.mark.slow
@pytest.mark.ray
@pytest.mark.cluster
def test_ray_token_file_is_shared_by_head_driver_and_cli(tmp_path: Path) -> None:
    """RAY_AUTH_MODE=token with RAY_AUTH_TOKEN_PATH on the head, the convnas driver and `ray
    status` (compose.yaml's health check) works; another token is refused."""
    token = tmp_path / "ray_auth_token"
    token.write_text(secrets.token_hex(32) + "\n", encoding="utf-8")  # as the guide makes it
    env = ray_env(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(token))
    with ray_head(env) as address:
        deadline = time.monotonic() + 90
        while (status := ray_status(address, env)).returncode != 0:
            assert time.monotonic() < deadline, status.stderr[-2000:]
            time.sleep(1)
        driver = subprocess.run(
            [sys.executable, "-c", DRIVER.format(address=address)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
        )
        assert driver.returncode == 0, driver.stderr[-3000:]
        assert "task 42" in driver.stdout
        wrong = ray_status(address, ray_env(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN="0" * 64))
        assert wrong.returncode != 0
        assert "InvalidAuthToken" in wrong.stdout + wrong.stderr
