"""The install is declared: everything the product imports at run time is in ``[project] dependencies``.

Two checks:

* every third-party module imported anywhere in ``hub/``, ``channels/`` and ``charter/`` (read from the source,
  imports inside functions included) belongs to a distribution the project declares: the product's own imports
  to the run-time dependencies, the test equipment's (``hub/testing/``) to the dev extras at most;
* a clean virtual environment (no system site-packages, no extras) gets the project installed as a school's server
  would install it: not editable, from a copy of the working tree (through the machine's configured index), the
  copy then removed so nothing can be read from the sources; it runs ``carnet migrate``, ``carnet demo-data``,
  ``carnet serve`` with the demo providers (its pages, static files, the charter and a message rendered from the
  installed templates) and ``carnet bounces``, on 127.0.0.1 only.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.metadata
import importlib.util
import os
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.config import ROOT

PACKAGES = ("hub", "channels", "charter")
#: Test equipment shipped inside the package, imported only by the tests: its modules may need the dev extras.
TEST_EQUIPMENT = ("hub/testing/",)
#: Guards against a hang, not measures of speed.
INSTALL_TIMEOUT = 900.0
START_TIMEOUT = 180.0
STOP_TIMEOUT = 30.0


def _name(requirement: str) -> str:
    """The normalised distribution name of a requirement string (``google-auth[requests]>=2`` -> google-auth)."""
    found = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    assert found, requirement
    return re.sub(r"[-_.]+", "-", found.group(1)).lower()


def _declared() -> tuple[set[str], set[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    runtime = {_name(r) for r in project["dependencies"]}
    dev = {_name(r) for r in project["optional-dependencies"]["dev"]}
    return runtime, dev


def _imports(path: Path) -> set[str]:
    """The absolute module names ``path`` imports (every ``import``, at any depth of the file)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def _third_party() -> dict[str, set[str]]:
    """Each third-party module imported by the product's source -> the files importing it."""
    found: dict[str, set[str]] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            for module in _imports(path):
                top = module.partition(".")[0]
                if top in sys.stdlib_module_names or top in PACKAGES or top == "__future__":
                    continue
                found.setdefault(module, set()).add(relative)
    return found


def _distributions(module: str) -> set[str]:
    """The distributions that provide ``module``; for a namespace shared by several (``google``), the one whose
    files hold the submodule imported."""
    top = module.partition(".")[0]
    candidates = importlib.metadata.packages_distributions().get(top, [])
    if len(candidates) <= 1:
        return {_name(c) for c in candidates}
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin, f"{module} is imported but not installed"
    origin = Path(spec.origin).resolve()
    owners = set()
    for candidate in candidates:
        for file in importlib.metadata.distribution(candidate).files or []:
            if Path(str(file.locate())).resolve() == origin:
                owners.add(_name(candidate))
    return owners


def test_every_third_party_import_is_declared() -> None:
    runtime, dev = _declared()
    missing: list[str] = []
    for module, files in sorted(_third_party().items()):
        owners = _distributions(module)
        assert owners, f"no installed distribution provides {module} (imported by {sorted(files)})"
        product_files = sorted(f for f in files if not f.startswith(TEST_EQUIPMENT))
        allowed = runtime if product_files else runtime | dev
        if not owners & allowed:
            where = product_files or sorted(files)
            missing.append(f"{module} ({', '.join(sorted(owners))}) imported by {', '.join(where)}")
    assert not missing, "imported but not declared:\n" + "\n".join(missing)


def test_the_dev_extras_hold_only_what_the_tests_and_tools_need() -> None:
    runtime, dev = _declared()
    assert not runtime & dev, f"declared twice (run time and dev): {sorted(runtime & dev)}"
    assert {"pytest", "ruff", "mypy", "httpx"} <= dev


# ------------------------------------------------------------------------------------------ a clean install


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _copy_tree(target: Path) -> Path:
    """What an install reads from the working tree, copied (the build writes its metadata beside the sources;
    other work in the tree must not see it)."""
    source = target / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in (*PACKAGES, "templates"):
        shutil.copytree(ROOT / name, source / name, ignore=ignore)
    return source


def _clean_env(data_dir: Path) -> dict[str, str]:
    """No product setting from the caller, nothing of the test virtualenv on the path."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("CARNET_") and k not in {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"}
    }
    env["CARNET_DATA_DIR"] = str(data_dir)
    return env


@contextlib.contextmanager
def _running(command: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=log.parent)
        try:
            yield process
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
                    pytest.fail(f"{command[1:]} did not stop on SIGTERM:\n{log.read_text(errors='replace')}")


def _wait_until(ready: object, process: subprocess.Popen[bytes], log: Path, what: str) -> None:
    assert callable(ready)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{what} exited with {process.returncode}:\n{log.read_text(errors='replace')}")
        if ready():
            return
        time.sleep(0.2)  # polling a child process: the wait ends as soon as it is ready
    pytest.fail(f"{what} not ready after {START_TIMEOUT:.0f} s:\n{log.read_text(errors='replace')}")


def _health(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _smtp_answers(port: int) -> bool:
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=5) as smtp:
            code, _ = smtp.noop()
            return code == 250
    except (OSError, smtplib.SMTPException):
        return False


@pytest.mark.slow
def test_a_clean_install_without_extras_serves_the_demo_and_receives_bounces(tmp_path: Path) -> None:
    source = _copy_tree(tmp_path)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=INSTALL_TIMEOUT)
    python, carnet = venv / "bin" / "python", venv / "bin" / "carnet"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(source)],
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    installed = subprocess.run([str(python), "-m", "pip", "list"], capture_output=True, text=True, check=True)
    for extra in ("pytest", "ruff", "playwright", "time-machine"):  # no dev extra came in
        assert not re.search(rf"^{extra}\s", installed.stdout, re.MULTILINE | re.IGNORECASE), extra
    shutil.rmtree(source)  # the installed package must carry everything it reads
    carried = subprocess.run(
        [str(python), "-c", "from hub.config import TEMPLATES as t; print(sorted(p.name for p in t.glob('*/*')))"],
        capture_output=True,
        text=True,
        check=True,
    )
    for name in ("email.html.j2", "sms.txt.j2", "base.html", "carnet.css"):
        assert name in carried.stdout, carried.stdout

    data = tmp_path / "data"
    env = _clean_env(data)
    for args in (["migrate"], ["demo-data", "--if-empty", "--with-messages"]):
        done = subprocess.run([str(carnet), *args], env=env, capture_output=True, text=True, timeout=START_TIMEOUT)
        assert done.returncode == 0, f"carnet {' '.join(args)}:\n{done.stdout}{done.stderr}"

    port = _free_port()
    serve_env = {**env, "CARNET_DEMO_PEERS": "1", "CARNET_BASE_URL": f"http://127.0.0.1:{port}"}
    serve = [str(carnet), "serve", "--host", "127.0.0.1", "--port", str(port)]
    log = tmp_path / "serve.log"
    with _running(serve, serve_env, log) as server:
        _wait_until(lambda: _health(f"http://127.0.0.1:{port}/health"), server, log, "carnet serve")
        base = f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(f"{base}/login", timeout=10) as page:
            assert page.status == 200 and "/static/carnet.css" in page.read().decode()
        with urllib.request.urlopen(f"{base}/static/carnet.css", timeout=10) as css:
            assert css.status == 200 and css.read()
        with urllib.request.urlopen(f"{base}/charter", timeout=10) as charter:
            assert charter.status == 200
    # uvicorn shuts the app down, then exits by the signal it received
    assert server.returncode in {0, -signal.SIGTERM}, log.read_text(errors="replace")
    assert "Application shutdown complete" in log.read_text(errors="replace")

    smtp_port = _free_port()
    bounce_env = {**env, "CARNET_BOUNCE_SECRET": "s" * 40, "CARNET_BOUNCE_HOST": "127.0.0.1"}
    log = tmp_path / "bounces.log"
    with _running([str(carnet), "bounces", "--port", str(smtp_port)], bounce_env, log) as bounces:
        _wait_until(lambda: _smtp_answers(smtp_port), bounces, log, "carnet bounces")
    assert bounces.returncode in {0, -signal.SIGTERM}, log.read_text(errors="replace")
