"""`edsearch search ... | head`: a reader that leaves early ends the command quietly, with no traceback."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_a_closed_pipe_is_not_a_traceback(seeds_index, embedder):
    edsearch = str(Path(sys.executable).with_name("edsearch"))
    out = subprocess.run(f"'{edsearch}' search 'CPTPP accession' --index '{seeds_index}' --k 5 | true",
                         shell=True, capture_output=True, text=True, timeout=120)     # the reader is gone at once
    assert "Traceback" not in out.stderr and "BrokenPipe" not in out.stderr, out.stderr
