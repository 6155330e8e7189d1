"""converge as a package: what the wheel carries, what each extra installs, the pinned versions,
and the wheel installed into a fresh virtual environment, run from there (not from the checkout).
"""

from __future__ import annotations

import ast
import configparser
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from converge import twins
from converge._compose_backend import RUNTIME_REQUIREMENTS
from converge._process_backend import ProcessBackend
from converge.errors import TwinsError
from tests.support.stack import FIXTURE, FIXTURE_AT_100, ReferenceStack

REPO = Path(__file__).resolve().parents[1]
CONSTRAINTS = REPO / "constraints.txt"
STACK_DISTRIBUTIONS = {"starlette", "uvicorn", "httpx", "python-on-whales"}


def requirements(extra: str | None = None) -> list[Requirement]:
    """converge's declared requirements: the core ones, or those of one extra only."""
    found = []
    for text in metadata.requires("converge") or []:
        requirement = Requirement(text)
        marker = requirement.marker
        if marker is None or "extra" not in str(marker):
            wanted = extra is None
        else:
            wanted = extra is not None and marker.evaluate({"extra": extra})
        if wanted:
            found.append(requirement)
    return found


def names(found: list[Requirement]) -> set[str]:
    return {canonicalize_name(requirement.name) for requirement in found}


def closure(roots: set[str]) -> set[str]:
    """Installed distributions reachable from ``roots`` through their (non-extra) requirements."""
    seen: set[str] = set()
    pending = list(roots)
    while pending:
        name = canonicalize_name(pending.pop())
        if name in seen:
            continue
        seen.add(name)
        try:
            required = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for text in required:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                pending.append(requirement.name)
    return seen


def pins() -> dict[str, str]:
    pinned = {}
    for line in CONSTRAINTS.read_text(encoding="utf-8").splitlines():
        text = line.split("#", 1)[0].strip()
        if text:
            requirement = Requirement(text)
            specifiers = list(requirement.specifier)
            assert len(specifiers) == 1 and specifiers[0].operator == "==", line
            pinned[canonicalize_name(requirement.name)] = specifiers[0].version
    return pinned


# --- what each install brings --------------------------------------------------------------


def test_an_engine_only_install_does_not_bring_the_twins_server_stack():
    core = names(requirements())
    assert {"requests", "pyyaml", "jsonschema", "tabulate", "pyjwt", "invoke"} <= core
    assert not core & STACK_DISTRIBUTIONS
    assert not closure(core) & STACK_DISTRIBUTIONS, "not even through another dependency"


def test_the_twins_extra_is_the_server_stack_and_dev_installs_everything():
    assert names(requirements("twins")) == STACK_DISTRIBUTIONS
    dev = names(requirements("dev"))
    assert names(requirements("twins")) <= dev
    assert names(requirements("sdk")) <= dev
    assert "build" in dev, "the packaging test builds the wheel and sdist"


# Host-side tooling inside a service package: the conformance diff runs the official SDKs
# against the twins from a developer's machine or CI, never inside the stack's image.
TOOLING = {"converge_twins": "conformance"}
STACK_PACKAGES = ("converge_twins", "converge_gravix")


def imported_distributions(package: str, tooling: bool = False) -> set[str]:
    """The distributions whose modules a package of this checkout imports (any depth).

    The package's host-side tooling (:data:`TOOLING`) is left out, or with ``tooling`` is all
    that is looked at.
    """
    modules: set[str] = set()
    for path in (REPO / package).rglob("*.py"):
        inside = TOOLING.get(package) in path.relative_to(REPO / package).parts
        if inside != tooling:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules.update(alias.name.partition(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.partition(".")[0])
    # The stack's own packages are in the image (the project wheel) and checked here themselves;
    # the converge library is not, and stays counted: a service must not import it.
    third_party = modules - set(sys.stdlib_module_names) - {"__future__", *STACK_PACKAGES}
    owners = metadata.packages_distributions()
    return {canonicalize_name(owners[module][0]) for module in third_party}


@pytest.mark.parametrize("package", ["converge_twins", "converge_gravix"])
def test_the_stack_image_installs_everything_the_services_import(package):
    # The compose image installs the project wheel with --no-deps plus RUNTIME_REQUIREMENTS (and
    # what those require): a service importing anything else would die in its container.
    in_image = closure({canonicalize_name(name) for name in RUNTIME_REQUIREMENTS})
    assert imported_distributions(package) <= in_image
    declared = names(requirements()) | names(requirements("twins"))
    assert {canonicalize_name(name) for name in RUNTIME_REQUIREMENTS} <= declared


def test_the_twins_tooling_imports_only_what_the_dev_install_brings():
    dev = closure(names(requirements()) | names(requirements("dev")))
    assert imported_distributions("converge_twins", tooling=True) <= dev
    for path in (REPO / "converge_twins").rglob("*.py"):
        if "conformance" not in path.parts:
            assert "conformance" not in path.read_text(encoding="utf-8"), (
                f"{path.name}: a service must not import the host-side tooling"
            )


def test_starting_the_twins_without_the_extra_names_it(tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: None if name == "uvicorn" else real(name, *args),
    )
    backend = ProcessBackend(twins.TwinsConfig(backend="process", state_dir=tmp_path / "state"))
    with pytest.raises(TwinsError) as raised:
        backend.up()
    message = str(raised.value)
    assert "starting the twins needs converge's `twins` extra" in message
    assert "uvicorn is not installed" in message
    assert "pip install 'converge[twins]'" in message
    assert not (tmp_path / "state" / "twins.json").exists(), "nothing was started"


def test_the_compose_backend_without_the_extra_names_it(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: None if name == "python_on_whales" else real(name, *args),
    )
    with pytest.raises(TwinsError, match=r"compose backend needs converge's `twins` extra"):
        twins.select_backend(twins.TwinsConfig(backend="compose"), lambda _message: None)
    said: list[str] = []
    chosen = twins.select_backend(twins.TwinsConfig(backend="auto"), said.append)
    assert chosen.name == "process"
    assert "converge[twins]" in said[-1]


# --- the pinned versions -------------------------------------------------------------------


def test_constraints_pin_every_distribution_a_dev_install_brings():
    everything = names(requirements()) | names(requirements("dev"))
    unpinned = sorted(closure(everything) - set(pins()))
    assert not unpinned, f"constraints.txt pins no version of {unpinned}"


def test_constraints_honour_the_declared_lower_bounds():
    pinned = pins()
    for requirement in requirements() + requirements("dev"):
        version = pinned[canonicalize_name(requirement.name)]
        assert requirement.specifier.contains(version), f"{requirement} excludes {version}"


def test_ci_installs_with_the_constraints():
    script = (REPO / ".ci/run").read_text(encoding="utf-8")
    assert re.search(r'pip install .*-c constraints\.txt .*-e "\.\[dev\]"', script), script


# --- the built distributions ---------------------------------------------------------------


def test_the_repository_carries_a_license_and_a_changelog():
    assert "MIT License" in (REPO / "LICENSE").read_text(encoding="utf-8")
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(REPO / "setup.cfg", encoding="utf-8")
    assert parser["metadata"]["license"] == "MIT"
    changelog = (REPO / "CHANGELOG.md").read_text(encoding="utf-8")
    from converge import __version__

    assert f"## [{__version__}]" in changelog, "the current version has its entry"


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sdist and the wheel, built the standard way (the wheel from the sdist)."""
    out = tmp_path_factory.mktemp("dist")
    source = tmp_path_factory.mktemp("source") / "converge"
    # A copy: setuptools writes build/ and *.egg-info into the tree it builds.
    shutil.copytree(
        REPO,
        source,
        symlinks=True,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache",
            ".hypothesis", ".holdouts", ".converge", "wheels",
        ),
    )
    completed = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert "is absent from the `packages` configuration" not in completed.stdout + completed.stderr
    return out


def only(folder: Path, pattern: str) -> Path:
    found = sorted(folder.glob(pattern))
    assert len(found) == 1, found
    return found[0]


@pytest.mark.slow
def test_the_wheel_carries_the_packages_and_schemas_under_converge_names(dist):
    with zipfile.ZipFile(only(dist, "converge-*.whl")) as wheel:
        files = wheel.namelist()
        top_level = wheel.read(
            next(name for name in files if name.endswith(".dist-info/top_level.txt"))
        ).decode()
    assert sorted(top_level.split()) == ["converge", "converge_gravix", "converge_twins"]
    assert {path.partition("/")[0] for path in files} - {"converge_gravix", "converge_twins"} == {
        "converge", next(p.partition("/")[0] for p in files if ".dist-info/" in p)
    }, "nothing installs under a name that is not converge's"
    for schema in ("scenario.schema.json", "report.schema.json"):
        assert f"converge/schemas/{schema}" in files
        with zipfile.ZipFile(only(dist, "converge-*.whl")) as wheel:
            shipped = wheel.read(f"converge/schemas/{schema}")
        assert shipped == (REPO / "schemas" / schema).read_bytes(), "one copy, the top-level one"
    assert any(name.endswith(("licenses/LICENSE", "/LICENSE")) for name in files)
    assert not [name for name in files if "__pycache__" in name or name.endswith(".pyc")]
    # The services read their data files at run time (the Stripe operations the twin knows, the
    # projects mock-supabase stands in for): the wheel, and so the stack's image, carries them.
    for package in ("converge_twins", "converge_gravix"):
        for path in (REPO / package).rglob("*"):
            if "__pycache__" in path.parts or not path.is_file() or path.suffix == ".py":
                continue
            assert path.relative_to(REPO).as_posix() in files, f"the wheel lacks {path.name}"


@pytest.mark.slow
def test_the_sdist_holds_what_building_and_testing_need(dist):
    with tarfile.open(only(dist, "converge-*.tar.gz")) as sdist:
        files = {name.partition("/")[2] for name in sdist.getnames()}
    for needed in (
        "LICENSE", "CHANGELOG.md", "README.md", "constraints.txt", "setup.cfg", "pyproject.toml",
        "tasks.py", "schemas/scenario.schema.json", "converge/schemas/report.schema.json",
        "holdouts-fixture/critical/auth-gating.yaml", "tests/test_packaging.py",
        "compose/Dockerfile", "compose/docker-compose.yml",
    ):
        assert needed in files, f"the sdist lacks {needed}"
    assert not [name for name in files if name.startswith("compose/wheels/")]


# --- installed into a fresh virtual environment --------------------------------------------


def clean_env(venv: Path) -> dict[str, str]:
    """This test's environment without anything pointing back at the checkout or its venv."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "API_URL", "PYTHONSTARTUP")
        and not key.startswith("INVOKE_")
    }
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["NO_COLOR"] = "1"
    return env


@pytest.fixture(scope="module")
def fresh_venv(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A new virtual environment holding the wheel (no extra), installed with the constraints."""
    venv = tmp_path_factory.mktemp("venv") / "env"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    completed = subprocess.run(
        [
            str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
            "--disable-pip-version-check", "-c", str(CONSTRAINTS),
            str(only(dist, "converge-*.whl")),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=clean_env(venv),
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    yield venv


def in_venv(
    venv: Path, *arguments: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(venv / "bin" / arguments[0]), *arguments[1:]],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env={**clean_env(venv), **(env or {})},
        stdin=subprocess.DEVNULL,
        check=False,
    )


@pytest.mark.slow
def test_the_installed_wheel_is_the_one_that_runs_and_has_no_twins_stack(fresh_venv, tmp_path):
    where = in_venv(
        fresh_venv, "python", "-c", "import converge, sys; print(converge.__file__)", cwd=tmp_path
    )
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).is_relative_to(fresh_venv), "imported from the checkout"
    listed = in_venv(fresh_venv, "python", "-m", "pip", "list", "--format=freeze", cwd=tmp_path)
    installed = {canonicalize_name(line.partition("==")[0]) for line in listed.stdout.split()}
    assert "converge" in installed
    assert not installed & STACK_DISTRIBUTIONS, "an engine-only install stays small"


@pytest.mark.slow
def test_the_installed_wheel_validates_and_runs_the_fixture_against_a_local_server(
    fresh_venv: Path, reference_stack: ReferenceStack, tmp_path: Path
):
    scenarios = tmp_path / "holdouts"
    shutil.copytree(FIXTURE, scenarios)

    validated = in_venv(fresh_venv, "converge", "validate", "holdouts", cwd=tmp_path)
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert "4 scenarios" in validated.stdout

    ran = in_venv(
        fresh_venv, "converge", "run", "--scenarios-dir", "holdouts",
        "--api-url", reference_stack.api_url, "--report-file", "out/report.json",
        "--junit-file", "out/junit.xml", "--markdown-file", "out/summary.md",
        cwd=tmp_path,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "PASS: all 2 critical scenarios pass" in ran.stdout
    report = in_venv(fresh_venv, "converge", "report", "out/report.json", cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    for name in ("report.json", "junit.xml", "summary.md"):
        assert (tmp_path / "out" / name).stat().st_size > 0
    document = json.loads((tmp_path / "out" / "report.json").read_text())
    assert {s["file"]: s["satisfaction"] for s in document["scenarios"]} == FIXTURE_AT_100


@pytest.fixture
def sdist_project(dist: Path, tmp_path: Path) -> Path:
    """The sdist unpacked: a project folder with tasks.py, setup.cfg and the fixture holdouts."""
    with tarfile.open(only(dist, "converge-*.tar.gz")) as sdist:
        sdist.extractall(tmp_path, filter="data")
    return only(tmp_path, "converge-*")


@pytest.mark.slow
def test_tasks_that_need_the_twins_name_the_extra_and_no_twins_runs_without_it(
    fresh_venv: Path, sdist_project: Path, reference_stack: ReferenceStack
):
    up = in_venv(
        fresh_venv, "invoke", "twins.up", "--backend", "process", cwd=sdist_project
    )
    assert up.returncode == 2, up.stdout + up.stderr
    assert "needs converge's `twins` extra" in up.stderr
    assert "pip install 'converge[twins]'" in up.stderr
    assert "Traceback" not in up.stderr
    assert not (sdist_project / ".converge" / "twins.json").exists()

    external = in_venv(
        fresh_venv, "invoke", "converge", "--no-twins", cwd=sdist_project,
        env={"API_URL": reference_stack.api_url},
    )
    assert external.returncode == 0, external.stdout + external.stderr
    assert "PASS: all 2 critical scenarios pass" in external.stdout
