"""The load script in its short mode (CI): a real `edsearch serve` subprocess, 8 and 32 clients, zero errors."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ..conftest import ROOT

pytestmark = pytest.mark.slow


def test_short_load_run_has_no_errors_and_bounded_memory(seeds_index, tmp_path):
    out = tmp_path / "load.json"
    run = subprocess.run([sys.executable, str(ROOT / "bench" / "load.py"), "--index", str(seeds_index),
                          "--clients", "8,32", "--requests", "60", "--warmup", "8", "--time-limit", "90",
                          "--max-rss-growth-mb", "150", "--json", str(out)],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]
    assert "| clients | requests | errors | req/s | p50 ms | p95 ms | p99 ms |" in run.stdout
    report = json.loads(out.read_text())
    assert [r["clients"] for r in report["levels"]] == [8, 32]
    for level in report["levels"]:
        assert level["requests"] == 60 and level["errors"] == 0 and level["p99_ms"] > 0
