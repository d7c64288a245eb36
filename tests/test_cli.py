"""The `carnet` command end to end, as a person runs it: a separate process, configured by the environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def _carnet(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, CARNET_DATA_DIR=str(tmp_path), CARNET_DATABASE_URL=f"sqlite://{tmp_path / 'c.sqlite3'}")
    return subprocess.run(
        [sys.executable, "-m", "hub", *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_demo_data_once_then_kept_then_refused_without_replace(tmp_path: Path) -> None:
    first = _carnet(tmp_path, "demo-data", "--if-empty", "--with-messages")
    assert first.returncode == 0, first.stderr
    assert "450" in first.stdout and "Demo accounts" in first.stdout
    assert "published demo messages" in first.stdout
    again = _carnet(tmp_path, "demo-data", "--if-empty")
    assert again.returncode == 0 and "kept as it is" in again.stdout
    refused = _carnet(tmp_path, "demo-data")
    assert refused.returncode == 2 and "--replace" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_charter_check_and_render(tmp_path: Path) -> None:
    ok = _carnet(tmp_path, "charter", "check")
    assert ok.returncode == 0 and "charter OK" in ok.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text('[school]\nname = "X"\ntimezone = "Mars/Olympus"\n', encoding="utf-8")
    refused = _carnet(tmp_path, "charter", "check", "--file", str(bad))
    assert refused.returncode == 2 and "timezone" in refused.stderr
    rendered = _carnet(tmp_path, "charter", "render", "--out", str(tmp_path / "out"))
    assert rendered.returncode == 0
    assert (tmp_path / "out" / "charte.pdf").read_bytes().startswith(b"%PDF")
    assert "déconnexion" in (tmp_path / "out" / "charte.html").read_text(encoding="utf-8")


def test_worker_limits_are_configurable_and_checked(tmp_path: Path) -> None:
    ok = _carnet(tmp_path, "worker", "--once", "--rate", "sms=5", "--connections", "email=2")
    assert ok.returncode == 0, ok.stderr
    bad = _carnet(tmp_path, "worker", "--once", "--rate", "pigeon=5")
    assert bad.returncode == 2 and "expected CHANNEL=N" in bad.stderr
