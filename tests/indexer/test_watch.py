"""edsearch watch: intervals, rounds that build only on change, a real process that picks up and prunes files,
and Ctrl-C that stops between builds, never in the middle of one."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from indexer import IndexReader
from indexer.format import IndexNotFound, build_running
from indexer.reader import published_version

from indexer.watch import Watcher, parse_interval

from ..conftest import ROOT
from .test_build import write_corpus

EDSEARCH = [sys.executable, "-m", "api.cli"]


@pytest.mark.parametrize("text, seconds", [("60s", 60), ("5m", 300), ("1h", 3600), ("90", 90), ("0.5", 0.5),
                                           ("2 min", 120), (15, 15)])
def test_intervals(text, seconds):
    assert parse_interval(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "5x", "-1", "0", "1d", "m5"])
def test_bad_intervals_say_what_is_accepted(text):
    with pytest.raises(ValueError, match=r"(60s|more than zero)"):
        parse_interval(text)


def test_cli_refuses_a_bad_interval_clearly(tmp_path):
    out = subprocess.run([*EDSEARCH, "watch", str(tmp_path), "--every", "often", "--index", str(tmp_path / "i")],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "interval 'often' is not a duration" in out.stderr and "Traceback" not in out.stderr


def test_cli_refuses_missing_sources_and_bad_ports_clearly(tmp_path):
    def run(*args):
        return subprocess.run([*EDSEARCH, *args], cwd=ROOT, capture_output=True, text=True, timeout=120)

    gone, index = str(tmp_path / "no-such-folder"), str(tmp_path / "i")
    for out in (run("index", gone, "--index", index), run("watch", gone, "--every", "5m", "--index", index),
                run("watch", str(tmp_path), gone, "--index", index)):
        assert out.returncode == 2 and f"no such file or folder: {gone}; check the path" in out.stderr
    assert not (tmp_path / "i").exists()                # refused before the index was created
    for out in (run("serve", "--port", "99999", "--index", index), run("mcp", "--port", "-1", "--index", index)):
        assert out.returncode == 2 and "is not a port: give a number from 1 to 65535" in out.stderr
        assert "Traceback" not in out.stderr


def _ids(index: Path) -> set[str]:
    try:
        reader = IndexReader(index)
    except IndexNotFound:
        return set()
    return {r[0] for r in reader.db.execute("SELECT id FROM articles")}


def _wait_for(condition, seconds: float, what: str) -> float:
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > seconds:
            raise AssertionError(f"{what}: not within {seconds:.0f}s")
        time.sleep(0.1)
    return time.monotonic() - start


def test_watcher_builds_only_when_the_files_change(tmp_path, settings):
    src = write_corpus(tmp_path / "src", 2)
    watcher = Watcher([src], tmp_path / "idx", every="1s", prune=True, settings=settings)
    first = watcher.run_once()
    assert first.indexed == 2 and first.published
    assert watcher.run_once() is None and watcher.rounds == 1         # nothing changed: no build at all
    (src / "story-0001.md").unlink()
    pruned = watcher.run_once()
    assert pruned.removed == 1 and _ids(tmp_path / "idx") == {"story-0000"}
    thread = watcher.start()
    watcher.stop()
    thread.join(timeout=30)
    assert not thread.is_alive()


def test_a_refused_file_is_reported_once_and_the_index_kept(tmp_path, settings, caplog):
    src = write_corpus(tmp_path / "src", 1)
    watcher = Watcher([src], tmp_path / "idx", every=1, settings=settings)
    assert watcher.run_once().indexed == 1
    (src / "bomb.xml").write_text('<!DOCTYPE rss [<!ENTITY a "aaaa">]><rss><channel/></rss>')
    with caplog.at_level("ERROR", logger="edsearch"):
        assert watcher.run_once() is None and watcher.run_once() is None
    # other tests' server threads may log to "edsearch" too: count this watcher's reports only
    reports = [r.getMessage() for r in caplog.records if "bomb.xml: refused: the XML declares" in r.getMessage()]
    assert len(reports) == 1 and "published index is as it was" in reports[0]
    assert _ids(tmp_path / "idx") == {"story-0000"}
    (src / "bomb.xml").unlink()
    write_corpus(src, 2)
    assert watcher.run_once().indexed == 1 and watcher.last_error is None


@pytest.mark.slow
def test_watch_process_picks_up_new_files_prunes_removed_ones_and_stops_on_ctrl_c(tmp_path):
    src = write_corpus(tmp_path / "src", 2)
    idx = tmp_path / "idx"
    every = 3.0
    proc = subprocess.Popen([*EDSEARCH, "watch", str(src), "--every", f"{every:g}s", "--prune", "--index", str(idx)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: _ids(idx) == {"story-0000", "story-0001"}, 180, "first build")
        (src / "late.md").write_text("Late story\n\nA story filed after the watch began, about ferries.\n")
        waited = _wait_for(lambda: "late" in _ids(idx), every + 30, "new file indexed")
        # one interval, plus the round's read-diff-embed-publish of one small file (a second or so here)
        assert waited < every + 30
        (src / "story-0000.md").unlink()
        _wait_for(lambda: _ids(idx) == {"story-0001", "late"}, every + 30, "removed file pruned")
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "edsearch: watch stopped" in err and "Traceback" not in err and "KeyboardInterrupt" not in err
    assert err.count("published version") == 3            # the first build, the new file, the removal


@pytest.mark.slow
def test_ctrl_c_during_a_build_lets_it_finish_and_publish(tmp_path):
    src = write_corpus(tmp_path / "src", 60)
    idx = tmp_path / "idx"
    proc = subprocess.Popen([*EDSEARCH, "watch", str(src), "--every", "1h", "--index", str(idx)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: (idx / ".lock").exists() and build_running(idx), 120, "build started")
        time.sleep(1.0)
        assert proc.poll() is None and published_version(idx) is None, "the build finished before Ctrl-C; give it more"
        os.kill(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "stopping after the build under way finishes and publishes" in err
    assert "published version 1" in err and "edsearch: watch stopped" in err
    assert len(_ids(idx)) == 60 and not build_running(idx)
