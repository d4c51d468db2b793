"""Single-query search latency on the BBC News index: p50/p95 per mode, in-process and over HTTP.

Builds the BBC index (or reuses it: the build is incremental, a no-op when nothing changed), then for each mode
(hybrid, dense, keyword) times Retriever.search in this process, and GET /search against a real
`edsearch serve` (uvicorn) subprocess on 127.0.0.1. Fixed list of 50 news queries, warm-up first, bounded loops.

    .venv/bin/python bench/latency.py [--index DIR] [--rounds 2] [--k 10] [--limit N]"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

DEFAULT_CORPUS = ROOT.parent / "shared" / "corpora" / "bbc-news" / "bbc.jsonl"
DEFAULT_INDEX = Path("~/.cache/edsearch/bench/bbc-index").expanduser()
MODES = ("hybrid", "dense", "keyword")

QUERIES = [
    "BBC chairman resignation", "oil prices rise", "interest rates Bank of England", "US trade deficit",
    "dollar falls against the euro", "airline job cuts", "Yukos auction Russia", "stock market record high",
    "house prices slow down", "WorldCom fraud trial", "general election date Blair", "Tory tax cut plans",
    "ID cards bill", "Iraq war legal advice", "asylum and immigration policy", "Gordon Brown budget",
    "Liberal Democrats manifesto", "terror suspects detention law", "student tuition fees", "hunting ban vote",
    "Oscar nominations best film", "box office hit film", "music album chart number one", "Brit awards winners",
    "TV drama ratings", "Hollywood actor dies", "rock band tour", "theatre West End musical",
    "England rugby Six Nations", "Chelsea Premier League title", "Wimbledon tennis champion", "Olympic athlete doping",
    "Arsenal manager Wenger", "cricket test series South Africa", "marathon world record", "football transfer fee",
    "mobile phone sales", "broadband internet users", "computer virus spreads", "video games console launch",
    "spam email law", "digital music downloads", "search engine Google", "piracy file sharing lawsuit",
    "Microsoft security update", "high definition TV", "what did the government say about pensions",
    "car maker profits fall", "strike by workers over pay", "economic growth forecast China",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(samples: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(np.array(samples) * 1000.0, q))


def timed(fn, queries: list[str], rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        for q in queries:
            t0 = time.perf_counter()
            fn(q)
            out.append(time.perf_counter() - t0)
    return out


class ServerProcess:
    """`edsearch serve` in a subprocess on a free loopback port; stopped by its own pid."""

    def __init__(self, index: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if k != "EDSEARCH_API_TOKEN"}
        exe = Path(sys.executable).parent / "edsearch"
        cmd = [str(exe), "serve", "--index", str(index), "--host", "127.0.0.1", "--port", str(self.port)]
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def __enter__(self):
        import httpx

        deadline = time.time() + 120
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"edsearch serve exited: {self.proc.stderr.read()[-2000:]}")
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        raise RuntimeError("edsearch serve did not become healthy in 120 s")

    def __exit__(self, *exc):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", default=str(DEFAULT_CORPUS))
    ap.add_argument("--index", default=str(DEFAULT_INDEX), help=f"index folder to build or reuse ({DEFAULT_INDEX})")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=2, help="passes over the 50 queries per mode and path")
    ap.add_argument("--warmup", type=int, default=10, help="warm-up queries per mode and path")
    ap.add_argument("--no-http", action="store_true", help="in-process only")
    ap.add_argument("--limit", type=int, help="index only the first N articles (quick runs; use a separate --index)")
    args = ap.parse_args(argv)

    import httpx
    import torch

    from api.retriever import Retriever
    from indexer import build_index
    from indexer.config import Settings

    settings = Settings.from_env()
    index = Path(args.index)
    if args.limit:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from index_throughput import limit_articles

        limit_articles(args.limit)
    t0 = time.perf_counter()
    summary = build_index([args.corpus], index, settings=settings, progress=True)
    print(f"index {index}: {'built' if summary.published else 'reused'} in {time.perf_counter() - t0:.1f}s "
          f"({summary.usable} articles)")
    retriever = Retriever(index, settings)
    rows = []
    for mode in MODES:
        def search(q, mode=mode):
            return retriever.search(q, args.k, mode)
        timed(search, QUERIES[: args.warmup], 1)
        rows.append(("in-process", mode, timed(search, QUERIES, args.rounds)))

    if not args.no_http:
        with ServerProcess(index) as server, httpx.Client(base_url=server.url, timeout=30) as client:
            for mode in MODES:
                def fetch(q, mode=mode):
                    r = client.get("/search", params={"q": q, "k": args.k, "mode": mode})
                    r.raise_for_status()
                timed(fetch, QUERIES[: args.warmup], 1)
                rows.append(("HTTP", mode, timed(fetch, QUERIES, args.rounds)))

    print(f"{len(QUERIES)} queries x {args.rounds} rounds per row, k={args.k}, per_article=2; "
          f"backend={retriever.embedder.backend}, dtype={retriever.embedder.dtype}, "
          f"torch threads={torch.get_num_threads()}")
    print(f"{'path':<12}{'mode':<9}{'n':>5}{'p50 ms':>10}{'p95 ms':>10}{'max ms':>10}")
    print("-" * 56)
    for path, mode, samples in rows:
        print(f"{path:<12}{mode:<9}{len(samples):>5}{pct(samples, 50):>10.1f}{pct(samples, 95):>10.1f}"
              f"{max(samples) * 1000:>10.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
