"""How much faster the model runs in bf16 than in fp32 on this CPU, per runtime, on fixed input shapes.

The transformer alone (no tokenising, pooling or I/O) on random token ids, batch x tokens in {16, 64} x {64, 128,
256}, for each runtime (OpenVINO, PyTorch) and precision: sequences per second, and the bf16 / fp32 ratio. Also
prints whether the CPU has AMX, which is what decides how far bf16 can go (docs/scale.md, "Embedding on one
machine").

    .venv/bin/python bench/bf16_ratio.py [--seconds 2]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def rate(module, batch: int, tokens: int, seconds: float) -> float:
    """Sequences per second through `module` (a Hugging Face-style transformer forward)."""
    import torch

    ids = torch.randint(1000, 20000, (batch, tokens))
    feed = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "token_type_ids": torch.zeros_like(ids)}
    with torch.inference_mode():
        module(**feed)
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            module(**feed)
            n += 1
        return n * batch / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    args = ap.parse_args(argv)
    from indexer.embedding import Embedder
    from indexer.model_files import cpu_model

    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    print(f"CPU: {cpu_model()}, {os.cpu_count()} cpus; amx_bf16 {'yes' if 'amx_bf16' in flags else 'no'}, "
          f"avx512_bf16 {'yes' if 'avx512_bf16' in flags else 'no'}")
    print(f"{'runtime':9} {'batch':>5} {'tokens':>6} {'fp32 seq/s':>11} {'bf16 seq/s':>11} {'bf16/fp32':>9}")
    for backend in ("openvino", "torch"):
        models = {dtype: Embedder(dtype=dtype, backend=backend).model[0].model for dtype in ("float32", "bfloat16")}
        for batch in (16, 64):
            for tokens in (64, 128, 256):
                r = {dtype: rate(m, batch, tokens, args.seconds) for dtype, m in models.items()}
                print(f"{backend:9} {batch:5d} {tokens:6d} {r['float32']:11.1f} {r['bfloat16']:11.1f} "
                      f"{r['bfloat16'] / r['float32']:9.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
