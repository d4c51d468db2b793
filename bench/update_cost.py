"""What an update costs: add N articles to an index, build again with nothing changed, delete them, optimize.

For each step: wall time, the part of it spent embedding (the model is loaded before the clock starts), the bytes
the process wrote (/proc/self/io wchar: SQLite's log and checkpoint, segment files, everything), and how the
folder grew. Works on a copy of the index unless --in-place (the copy is what the BBC figure uses):

    .venv/bin/python bench/update_cost.py --index ~/.cache/edsearch/answer-eval/bbc-index --articles 1
    .venv/bin/python bench/update_cost.py --index DIR --articles 100 --in-place      # what bench/scale.py runs
    EDSEARCH_SEGMENTS_PER_TIER=0 .venv/bin/python bench/update_cost.py --index DIR --articles 100 --in-place \
        --no-optimize                                       # the same steps on a 20-segment folder, kept as it is

An index written by an older edsearch (format 1) is upgraded first (on the copy), and that is timed too."""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

TOPICS = ["harbour dredging", "school funding", "hospital waiting lists", "rail timetable", "water prices",
          "ferry subsidies", "housing permits", "port tariffs", "bridge repairs", "library hours"]


def written() -> int:
    """Bytes this process has passed to write() so far."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    return 0


def folder_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file()) / 2**20


def write_articles(path: Path, n: int, tag: str) -> Path:
    """n news-like articles of five paragraphs each, in one JSON Lines file."""
    lines = []
    for i in range(n):
        topic = TOPICS[i % len(TOPICS)]
        paras = [f"Paragraph {p} of update {tag}-{i} on {topic}: the council met on day {p} and voted {p + i} to "
                 f"{i % 7} on the {topic} plan, after residents complained at length about costs and delays."
                 for p in range(5)]
        lines.append(json.dumps({"id": f"update-{tag}-{i:04d}", "title": f"Update {i} on {topic}",
                                 "author": "Bench Desk", "published": "2026-11-30", "text": "\n\n".join(paras)}))
    path.write_text("\n".join(lines) + "\n")
    return path


def step(name: str, index: Path, run) -> dict:
    size0, w0, t0 = folder_mb(index), written(), time.perf_counter()
    summary = run()
    seconds = time.perf_counter() - t0
    out = {"step": name, "seconds": seconds, "written_mb": (written() - w0) / 2**20, "folder_mb_before": size0,
           "folder_mb_after": folder_mb(index)}
    if summary is not None and hasattr(summary, "encode_seconds"):
        out.update(encode_seconds=summary.encode_seconds, published=bool(summary.published),
                   passages=summary.chunks)
    return out


def measure(index: Path, articles: int, settings, optimize_after: bool = True) -> list[dict]:
    """Add `articles` new articles, rebuild with nothing changed, delete them again, optimize; one row each."""
    from indexer import build_index
    from indexer.embedding import embedder_for
    from indexer.format import is_format_1
    from indexer.writer import optimize

    embedder_for(settings).encode(["load the model before the clock starts"])
    rows = []
    with tempfile.TemporaryDirectory(prefix="edsearch-update-") as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        if is_format_1(index):
            rows.append(step("upgrade format 1 (edsearch optimize)", index, lambda: optimize(index, settings)))
        feed = write_articles(src / "updates.jsonl", articles, "a")

        def build(**kw):
            return build_index([src], index, settings=settings, progress=False, **kw)

        rows.append(step(f"add {articles} article(s)", index, build))
        rows.append(step("build again, nothing changed", index, build))
        feed.unlink()                 # an emptied file would count as unreadable, and prune keeps what it held
        rows.append(step(f"delete the {articles} article(s) (prune)", index, lambda: build(prune=True)))
        if optimize_after:
            rows.append(step("optimize (merge all segments)", index, lambda: optimize(index, settings)))
    return rows


def report(rows: list[dict], index: Path) -> None:
    manifest = json.loads((index / "manifest.json").read_text())      # without loading every segment
    print(f"index {index}: {manifest['counts']['chunks']:,} passages, "
          f"{len(manifest['vectors']['segments'])} segment(s), {folder_mb(index):.1f} MB")
    print(f"  {'step':<42}{'seconds':>9}{'embed s':>9}{'beyond s':>9}{'written MB':>12}{'% of index':>11}"
          f"{'folder MB':>11}{'growth':>8}")
    for r in rows:
        embed = r.get("encode_seconds", 0.0)
        print(f"  {r['step']:<42}{r['seconds']:>9.2f}{embed:>9.2f}{r['seconds'] - embed:>9.2f}"
              f"{r['written_mb']:>12.2f}{100 * r['written_mb'] / r['folder_mb_before']:>10.2f}%"
              f"{r['folder_mb_after']:>11.1f}{100 * (r['folder_mb_after'] / r['folder_mb_before'] - 1):>7.1f}%")
    print("  ('beyond' = seconds minus embedding; the model was loaded before; written = bytes passed to write())")


def main(argv: list[str] | None = None) -> int:
    from indexer.config import Settings

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--index", required=True, type=Path)
    ap.add_argument("--articles", type=int, default=1)
    ap.add_argument("--in-place", action="store_true", help="work on the index itself, not a copy")
    ap.add_argument("--no-optimize", action="store_true", help="leave out the last step (a full merge)")
    args = ap.parse_args(argv)
    settings = Settings.from_env()
    if args.in_place:
        rows = measure(args.index, args.articles, settings, optimize_after=not args.no_optimize)
        report(rows, args.index)
        return 0
    with tempfile.TemporaryDirectory(prefix="edsearch-update-copy-") as tmp:
        copy = Path(tmp) / "index"
        shutil.copytree(args.index, copy)
        rows = measure(copy, args.articles, settings, optimize_after=not args.no_optimize)
        report(rows, copy)
    return 0


if __name__ == "__main__":
    sys.exit(main())
