"""Query-time cost of the answer cross-encoder (api/cross_encoder.py, OpenVINO): ms to score 10 and 30 sentences
for one question, fp32 and bf16 (where the CPU has it), 1 and 2 inference threads, median and p95 over ROUNDS
scorings, and the largest |bf16 - fp32| logit.

    PYTHONPATH=. .venv/bin/python bench/cross_encoder_speed.py [artifact folder]

Sentences are SQuAD-sized (the held-out paragraphs' sentences would do as well; these are fixed so the figure does
not depend on ../shared)."""
from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ROUNDS = 30
SENTENCES = [
    "The Berlin Wall fell on 9 November 1989, after weeks of protest in East Germany.",
    "Lagos is home to roughly 15 million people, making it the largest city in Nigeria.",
    "The committee said it would publish its recommendations on the accession process before the summer recess.",
    "Shares in the company rose by 4 per cent after it reported higher than expected profits for the quarter.",
    "Rainfall in the region has been below average for the third consecutive year, according to the met office.",
    "The opera house was designed by the Danish architect Jorn Utzon and opened in 1973.",
]
QUESTIONS = ["When did the Berlin Wall fall?", "How many people live in Lagos?",
             "Who designed the Sydney Opera House?", "What did the committee recommend on accession?"]


def main() -> None:
    from api import cross_encoder as CE

    import numpy as np

    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else CE.ARTIFACT_DIR
    every = [SENTENCES[i % len(SENTENCES)] + f" ({i})" for i in range(30)]
    ref = CE.load(folder, "float32").score(QUESTIONS[0], every)
    for dtype, threads in (("float32", 1), ("float32", 2), ("bfloat16", 1), ("bfloat16", 2)):
        model = CE.load(folder, dtype, threads=threads)
        diff = float(np.abs(model.score(QUESTIONS[0], every) - ref).max())
        print(f"{dtype} (runs as {model.precision}), threads {threads}: max |logit - fp32| {diff:.4f}")
        for n in (10, 30):
            texts = [SENTENCES[i % len(SENTENCES)] + f" ({i})" for i in range(n)]
            for q in QUESTIONS:
                model.score(q, texts)                  # warm: compile the kernels of these shapes
            times = []
            for r in range(ROUNDS):
                t = time.perf_counter()
                model.score(QUESTIONS[r % len(QUESTIONS)], texts)
                times.append((time.perf_counter() - t) * 1000)
            times.sort()
            print(f"  {n:2d} sentences: median {times[len(times) // 2]:.1f} ms, "
                  f"p95 {times[int(len(times) * 0.95)]:.1f} ms")


if __name__ == "__main__":
    main()
