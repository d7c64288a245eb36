"""The benchmarks run in CI once, on tiny sizes (``scripts/bench --quick --check-only``), so they cannot rot: a
benchmark prints ratios against a baseline measured in the same run, never a timed assertion here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hub.config import ROOT

pytestmark = pytest.mark.postgres


def test_every_benchmark_runs_once_on_tiny_sizes(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARNET_")}
    figures = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench.py"), "--quick", "--check-only", "--json", str(figures)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if done.returncode == 2 and "PostgreSQL is needed" in done.stderr and not os.environ.get("CI"):
        pytest.skip(done.stderr.strip().splitlines()[-1])
    assert done.returncode == 0, done.stdout + done.stderr
    found = json.loads(figures.read_text())
    assert found["mode"] == "check"
    benches = {figure["bench"] for figure in found["figures"]}
    assert benches == {"fanout", "report", "sending", "workers", "portal"}, benches
    for figure in found["figures"]:
        assert figure["carnet"] > 0 and figure["baseline"] > 0, figure
        assert f"| {figure['bench']} | {figure['what']} |" in done.stdout  # the table names every figure
