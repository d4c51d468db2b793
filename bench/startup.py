"""The first second: a cold `edsearch search`, `edsearch serve` until /health answers, and the server's memory
after 100 searches, for this checkout and (optionally) another one, in one run.

    .venv/bin/python bench/startup.py --index /tmp/seeds-index [--baseline /path/to/older/checkout] [--runs 5]

Each command is a new process (`python -m api.cli ...` with the checkout first on PYTHONPATH), so a checkout
is measured with this venv's packages. The converted model must already be cached (build the index first).
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
QUERIES = ["what did the board recommend on CPTPP?", "China securitisation of economic policy", "Japan Australia",
           "reformists in Beijing", "trade agreement accession", "economic coercion", "Xi Jinping", "tariffs"]


def cli(checkout: Path, *args: str) -> list[str]:
    return [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(checkout)!r}); "
                                  "from api.cli import main; sys.exit(main(sys.argv[1:]))", *args]


def cold_search(checkout: Path, index: str, runs: int) -> list[float]:
    times = []
    for i in range(runs):
        t = time.perf_counter()
        subprocess.run(cli(checkout, "search", QUERIES[i % len(QUERIES)], "--index", index, "--k", "5"),
                       check=True, capture_output=True)
        times.append(time.perf_counter() - t)
    return times


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def serve(checkout: Path, index: str, port: int, searches: int) -> tuple[float, float, float]:
    """Seconds until /health answers 200, RSS then, and RSS after `searches` searches over HTTP."""
    t = time.perf_counter()
    proc = subprocess.Popen(cli(checkout, "serve", "--index", index, "--port", str(port)),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.perf_counter() - t > 120:
                raise RuntimeError(f"the server in {checkout} did not start")
            time.sleep(0.02)
        ready = time.perf_counter() - t
        at_start = rss_mb(proc.pid)
        with httpx.Client(timeout=60) as client:
            for i in range(searches):
                client.get(url + "/search", params={"q": QUERIES[i % len(QUERIES)] + f" {i}", "k": 10}
                           ).raise_for_status()
        return ready, at_start, rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", required=True)
    ap.add_argument("--baseline", type=Path, help="another checkout to measure in the same run")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--searches", type=int, default=100)
    ap.add_argument("--port", type=int, default=8765)
    args = ap.parse_args()
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}"
          f", {time.strftime('%Y-%m-%d %H:%M')}")
    checkouts = [("this checkout", ROOT)] + ([("baseline", args.baseline.resolve())] if args.baseline else [])
    print("| checkout | cold search p50 s (min-max) | serve -> /health s | server RSS MB at start | "
          f"after {args.searches} searches |")
    print("|---|---:|---:|---:|---:|")
    for name, path in checkouts:
        cold = cold_search(path, args.index, args.runs)
        ready, start, after = serve(path, args.index, args.port, args.searches)
        print(f"| {name} | {statistics.median(cold):.2f} ({min(cold):.2f}-{max(cold):.2f}) | {ready:.2f} | "
              f"{start:.0f} | {after:.0f} |", flush=True)


if __name__ == "__main__":
    main()
