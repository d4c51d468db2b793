"""Single-query encode latency.

(1) The project's Embedder.encode per runtime (OpenVINO, the default on a CPU; PyTorch), dtype auto.
(2) The bare sentence-transformers model in PyTorch with 1 vs the default torch threads, on a quiet machine and with
    the other core busy (a stand-in for concurrent requests or an index build): why a query runs on one thread.

    .venv/bin/python bench/query_encode.py"""
from __future__ import annotations

import multiprocessing as mp
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _burn() -> None:
    x = 0
    while True:
        x += 1


def _measure(model, queries: list[str]) -> tuple[float, float]:
    for q in queries[:10]:
        model.encode([q])
    times = []
    for q in queries:
        t = time.perf_counter()
        model.encode([q])
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return times[len(times) // 2], times[int(len(times) * 0.95)]


def main() -> None:
    import torch

    from indexer.embedding import get_embedder

    queries = [f"what did the board recommend on trade policy number {i}?" for i in range(80)]
    print(f"{'Embedder.encode, one query':34} {'dtype':>8} {'p50 ms':>8} {'p95 ms':>8}")
    for backend in ("openvino", "torch"):
        embedder = get_embedder(backend=backend)
        p50, p95 = _measure(embedder, queries)
        print(f"{backend:34} {embedder.dtype:>8} {p50:>8.1f} {p95:>8.1f}")
    print()

    st_model = get_embedder(backend="torch").model   # the bare sentence-transformers model: no thread policy of ours
    default = torch.get_num_threads()
    print(f"{'condition':34} {'threads':>7} {'p50 ms':>8} {'p95 ms':>8}")
    for busy in (False, True):
        proc = None
        if busy:
            proc = mp.Process(target=_burn, daemon=True)
            proc.start()
        for threads in (default, 1):
            torch.set_num_threads(threads)
            p50, p95 = _measure(st_model, queries)
            label = "other core busy" if busy else "quiet"
            print(f"{label:34} {threads:>7} {p50:>8.1f} {p95:>8.1f}")
        torch.set_num_threads(default)
        if proc:
            proc.terminate()


if __name__ == "__main__":
    main()
