"""Search results before and after a change of the index format: the same queries, the same vectors.

Takes index folders written by an older edsearch (format 1, e.g. the caches bench/retrieval_eval.py and
bench/answer_eval.py built), copies each, upgrades the copy in place with this checkout (`edsearch optimize`),
then runs every query in every mode twice: with the old checkout (--baseline, a git worktree of the commit before)
over the original folder, and with this checkout over the upgraded copy. The vectors are the same bytes, so any
difference comes from the store, the keyword engine or ranking code. Prints, per corpus and mode, how many top-10
lists are identical (same passages, same order), how many hold the same passages, and the largest score change,
with the first differences shown.

    .venv/bin/python bench/compare_results.py --baseline /work/baseline \\
        --index scifact=~/.cache/edsearch/retrieval/scifact-base --index bbc=~/.cache/edsearch/retrieval/bbc-base

Queries: SciFact's train queries for an index named scifact*, bench/ask_questions.jsonl and the 50 news queries of
bench/latency.py for bbc*, a dozen questions about the editorial for seeds* (build one with the old checkout:
`PYTHONPATH=/work/baseline .venv/bin/python -m api.cli index seeds --index /tmp/seeds-f1`)."""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" if (ROOT.parent / "shared").exists() else Path("/work/shared")
MODES = ("dense", "keyword", "hybrid")
K = 10

# Run by both checkouts: their own Retriever over their own folder, the results as JSON on stdout.
DUMP = """
import json, sys
from api import Retriever
index, queries = sys.argv[1], json.load(open(sys.argv[2]))
r = Retriever(index)
out = {}
for mode in %r:
    out[mode] = [[(h.article.id, h.citation.char_start, h.citation.char_end, h.score)
                  for h in r.search(q, k=%d, mode=mode, answer_spans=False).hits] for q in queries]
json.dump(out, sys.stdout)
""" % (MODES, K)

SEED_QUERIES = ["what did the board recommend on CPTPP?", "Japan and Australia influence", "Chinese economic coercion",
                "reformists in Beijing", "security issues in the relationship", "hawks in Tokyo and Canberra",
                "accession process", "Xi securitisation of economic policy", "trade agreement", "Brexit",
                "capital of Peru", "\"economic engagement\""]


def queries_for(name: str) -> list[str]:
    if name.startswith("scifact"):
        folder = SHARED / "eval" / "scifact-dev"
        wanted = {line.split("\t")[0] for line in (folder / "qrels" / "train.tsv").read_text().splitlines()[1:]}
        rows = [json.loads(line) for line in (folder / "queries.jsonl").read_text().splitlines() if line.strip()]
        return [r["text"] for r in rows if r["_id"] in wanted]
    if name.startswith("bbc"):
        sys.path.insert(0, str(ROOT / "bench"))
        from latency import QUERIES

        asked = [json.loads(line)["question"] for line in (ROOT / "bench" / "ask_questions.jsonl").read_text()
                 .splitlines() if line.strip()]
        return list(dict.fromkeys(asked + QUERIES))
    return SEED_QUERIES


def dump(checkout: Path, index: Path, queries_file: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(checkout), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-c", DUMP, str(index), str(queries_file)], cwd=checkout, env=env,
                          capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"{checkout}: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout)


def compare(name: str, old: dict, new: dict, queries: list[str], show: int) -> None:
    for mode in MODES:
        same_order = same_set = 0
        worst = 0.0
        shown = 0
        for q, a, b in zip(queries, old[mode], new[mode]):
            ka, kb = [tuple(h[:3]) for h in a], [tuple(h[:3]) for h in b]
            same_order += ka == kb
            same_set += set(ka) == set(kb)
            common = {tuple(h[:3]): h[3] for h in a}
            worst = max([worst] + [abs(common[tuple(h[:3])] - h[3]) for h in b if tuple(h[:3]) in common])
            if ka != kb and shown < show:
                shown += 1
                first = next(i for i in range(max(len(ka), len(kb))) if i >= len(ka) or i >= len(kb) or ka[i] != kb[i])
                print(f"    {mode} {q[:60]!r}: first difference at rank {first + 1}: "
                      f"{a[first] if first < len(a) else None} -> {b[first] if first < len(b) else None}")
        n = len(queries)
        print(f"  {name:<10}{mode:<9}{n:>6}{same_order:>10} ({100 * same_order / n:5.1f}%){same_set:>10} "
              f"({100 * same_set / n:5.1f}%){worst:>14.2e}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--baseline", required=True, type=Path, help="checkout of the code before the change")
    ap.add_argument("--index", action="append", required=True, metavar="NAME=FOLDER",
                    help="a format 1 index folder (repeat)")
    ap.add_argument("--show", type=int, default=3, help="differences to print per mode")
    args = ap.parse_args(argv)
    print(f"  {'corpus':<10}{'mode':<9}{'queries':>6}{'same top-10 in order':>20}{'same passages':>17}"
          f"{'max |score change|':>20}")
    for spec in args.index:
        name, folder = spec.split("=", 1)
        folder = Path(folder).expanduser()
        queries = queries_for(name)
        with tempfile.TemporaryDirectory(prefix="edsearch-compare-") as tmp:
            qfile = Path(tmp) / "queries.json"
            qfile.write_text(json.dumps(queries))
            copy = Path(tmp) / "index"
            shutil.copytree(folder, copy)
            upgrade = subprocess.run([sys.executable, "-m", "api.cli", "optimize", "--index", str(copy)], cwd=ROOT,
                                     capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
            if upgrade.returncode:
                raise SystemExit(upgrade.stderr)
            old = dump(args.baseline, folder, qfile)
            new = dump(ROOT, copy, qfile)
        compare(name, old, new, queries, args.show)
    return 0


if __name__ == "__main__":
    sys.exit(main())
