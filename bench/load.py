"""Bounded load test: `edsearch serve` on loopback, N concurrent clients, a search:ask mix; prints a table.

    .venv/bin/python bench/load.py --index /tmp/bbc-index                     # 8, 32, 128 clients, 400 requests each
    .venv/bin/python bench/load.py --index IDX --clients 8,32 --requests 60    # the short mode CI runs

It starts the server itself on a free 127.0.0.1 port, sends a fixed number of requests per concurrency level
(stopping early at --time-limit seconds per level), samples the server's RSS from /proc before and after
each level, stops the server and exits 1 when any request failed (or, with --max-rss-growth-mb, when the
server's memory grew by more than that over the whole run). Loopback only: it never talks to another host.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent

SEARCHES = [
    "interest rates bank of england", "mobile phone sales", "oil prices rise", "film box office record",
    "premiership football manager sacked", "tony blair election campaign", "broadband internet growth",
    "\"world cup\"", "tax cuts budget chancellor", "video game console launch", "tennis australian open",
    "music awards nomination", "stock market shares fall", "immigration policy", "software piracy",
    "airline job cuts", "iraq war", "rugby six nations", "oscar nominations", "chelsea arsenal",
]
ASKS = [
    "who won the australian open?", "what happened to oil prices?", "why did the airline cut jobs?",
    "what did the chancellor announce in the budget?", "which film topped the box office?",
    "what did the bank of england decide on interest rates?", "how many people use broadband?",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    i = min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))
    return s[i]


def start_server(index: str, port: int, env_extra: dict | None = None) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", **(env_extra or {})}
    exe = Path(sys.executable).with_name("edsearch")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "api.cli"]
    return subprocess.Popen([*cmd, "serve", "--index", index, "--host", "127.0.0.1", "--port", str(port)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited early: {proc.stderr.read().decode(errors='replace')[-2000:]}")
        try:
            r = httpx.get(url + "/health", timeout=2)
            if r.status_code == 200:
                return r.json()
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the server did not become healthy in {timeout:.0f}s")


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def request_plan(n: int, ask_every: int, seed: int) -> list[tuple[str, str, dict]]:
    rng = random.Random(seed)
    plan = []
    for i in range(n):
        if ask_every and i % ask_every == ask_every - 1:
            plan.append(("POST", "/ask", {"q": rng.choice(ASKS), "k": 5, "generate": False}))
        elif i % 2:
            plan.append(("POST", "/search", {"q": rng.choice(SEARCHES), "k": 10}))
        else:
            plan.append(("GET", "/search", {"q": rng.choice(SEARCHES), "k": rng.choice([5, 10, 20])}))
    return plan


async def run_level(url: str, clients: int, plan: list, time_limit: float, token: str = "") -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    queue: asyncio.Queue = asyncio.Queue()
    for item in plan:
        queue.put_nowait(item)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    deadline = time.perf_counter() + time_limit
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async with httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(time_limit + 5), limits=limits,
                                 headers=headers) as client:
        async def worker():
            while time.perf_counter() < deadline:
                try:
                    method, path, params = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                t0 = time.perf_counter()
                try:
                    if method == "GET":
                        r = await client.get(path, params=params)
                    else:
                        r = await client.post(path, json=params)
                    if r.status_code != 200:
                        errors.append(f"{method} {path}: HTTP {r.status_code} {r.text[:200]}")
                    else:
                        latencies.append((time.perf_counter() - t0) * 1000)
                except httpx.HTTPError as exc:
                    errors.append(f"{method} {path}: {type(exc).__name__} {exc}")

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        elapsed = time.perf_counter() - t0
    done = len(latencies) + len(errors)
    return {"clients": clients, "requests": done, "planned": len(plan), "errors": len(errors),
            "error_samples": errors[:5], "seconds": round(elapsed, 2),
            "rps": round(done / elapsed, 1) if elapsed else 0.0,
            "p50_ms": round(percentile(latencies, 50), 1), "p95_ms": round(percentile(latencies, 95), 1),
            "p99_ms": round(percentile(latencies, 99), 1)}


def format_table(rows: list[dict]) -> str:
    head = "| clients | requests | errors | req/s | p50 ms | p95 ms | p99 ms | server RSS MB (start -> end) |"
    lines = [head, "|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        lines.append(f"| {r['clients']} | {r['requests']} | {r['errors']} | {r['rps']} | {r['p50_ms']} | "
                     f"{r['p95_ms']} | {r['p99_ms']} | {r['rss_start_mb']:.0f} -> {r['rss_end_mb']:.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--index", default="/tmp/bbc-index", help="index folder to serve (default /tmp/bbc-index)")
    p.add_argument("--clients", default="8,32,128", help="comma-separated concurrency levels")
    p.add_argument("--requests", type=int, default=400, help="requests per level")
    p.add_argument("--time-limit", type=float, default=120, help="seconds per level at most")
    p.add_argument("--ask-every", type=int, default=5, help="every Nth request is an /ask (default 5: 4:1)")
    p.add_argument("--warmup", type=int, default=20, help="requests before the first level (not counted)")
    p.add_argument("--startup-timeout", type=float, default=120)
    p.add_argument("--max-rss-growth-mb", type=float, help="fail when the server grew more than this")
    p.add_argument("--json", help="also write the results to this file")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    levels = [int(c) for c in args.clients.split(",") if c.strip()]

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start_server(args.index, port)
    rows: list[dict] = []
    try:
        health = wait_healthy(url, proc, args.startup_timeout)
        print(f"serving {args.index}: {health.get('counts')} on {url} (pid {proc.pid})", file=sys.stderr)
        if args.warmup:
            asyncio.run(run_level(url, 4, request_plan(args.warmup, args.ask_every, args.seed + 99), 60))
        rss_first = rss_mb(proc.pid)
        for i, clients in enumerate(levels):
            before = rss_mb(proc.pid)
            row = asyncio.run(run_level(url, clients, request_plan(args.requests, args.ask_every, args.seed + i),
                                        args.time_limit))
            row["rss_start_mb"], row["rss_end_mb"] = before, rss_mb(proc.pid)
            rows.append(row)
            print(f"{clients} clients: {row['requests']} requests, {row['errors']} errors, {row['rps']} req/s, "
                  f"p50 {row['p50_ms']} ms, p99 {row['p99_ms']} ms", file=sys.stderr)
            for e in row["error_samples"]:
                print(f"  error: {e}", file=sys.stderr)
        rss_last = rss_mb(proc.pid)
    finally:
        stop_server(proc)
    print(format_table(rows))
    growth = rss_last - rss_first
    print(f"\nserver RSS after warm-up {rss_first:.0f} MB, at the end {rss_last:.0f} MB ({growth:+.0f} MB); "
          f"{sum(r['errors'] for r in rows)} errors in {sum(r['requests'] for r in rows)} requests")
    if args.json:
        Path(args.json).write_text(json.dumps({"levels": rows, "rss_first_mb": rss_first, "rss_last_mb": rss_last},
                                              indent=2))
    failed = any(r["errors"] for r in rows) or any(r["requests"] < r["planned"] for r in rows)
    if args.max_rss_growth_mb is not None and growth > args.max_rss_growth_mb:
        print(f"server memory grew {growth:.0f} MB (> {args.max_rss_growth_mb} MB)", file=sys.stderr)
        failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
