"""The benchmarks under ``scripts/`` run in CI once, in their quick mode, so they cannot rot: a benchmark prints
ratios against a baseline measured in the same run, never a timed assertion here."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from hub.config import ROOT

pytestmark = pytest.mark.postgres


def test_the_workers_benchmark_runs_in_its_quick_mode() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARNET_")}
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench_workers.py"), "--quick"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if done.returncode != 0 and "PostgreSQL" in done.stderr and not os.environ.get("CI"):
        pytest.skip(done.stderr.strip().splitlines()[-1])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "speed-up vs 1 worker (same run)" in done.stdout, done.stdout
    assert "(0 extra copies)" in done.stdout, done.stdout
