"""Every figure of the answer model (api/answer_model.py) through `Retriever.ask`, as a user meets it.

SQuAD held-out fold (the 10% of articles training/train_answer.py never trains on): each held-out paragraph is
written as one article (id "<title>#<n>", its article's title) to a temporary JSONL and indexed with the
project's own build_index. For a seeded sample of held-out questions (--n):
  * answerable: asked over the whole index. "right": found, and the answer's sentences (together at most 500
    characters) hold the gold answer string; "answered": found at all.
  * removed: the same question with its own paragraph left out (the rest of its article stays in): the next
    passages of the ranking move up, as if the paragraph were not indexed. Declined is right.
  * perturbed: the question with a year, number or name swapped for one its paragraph does not state
    (training/train_answer.py's `perturb`: another year, another party of the same article). Declined is right.
  * word swapped: the question with a word after "the"/"a"/"an" swapped for another such word of its article that
    its paragraph lacks (`swap_noun`: "the harbour works" -> "the airport works"). Declined is right.

BBC (bench/ask_questions.jsonl over ../shared/corpora/bbc-news/bbc.jsonl): answerable questions answered and
citing their article, and of those the answers that hold one of the question's answer terms (the value asked: an
answer may cite the right article with its lede and miss the sentence stating the value); unanswerable ones and
answerable ones with their article removed answered anyway (--show-wrong lists those, with the sentences they cite).

Latency (--latency): /ask p50 over the BBC index of this checkout and of --baseline (today's main), one after
the other in one run, each in a fresh subprocess, Retriever.ask in-process over the same questions.

Each figure at the shipped threshold is printed with its 95% Wilson interval; --offset measures a fresh sample of
the held-out questions, after those a smaller run reported.

    PYTHONPATH=. python bench/answer_eval.py [--n 300] [--offset 600] [--skip-bbc] [--show-wrong] [--latency --baseline /work/baseline]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from indexer.reader import published_version  # noqa: E402
from training.train_answer import (  # noqa: E402
    SEED, answer_start, determiner_nouns, load_squad, perturb, split_articles, swap_noun)

CACHE = Path("~/.cache/edsearch/answer-eval").expanduser()
BBC_CORPUS = ROOT.parent / "shared" / "corpora" / "bbc-news" / "bbc.jsonl"
if not BBC_CORPUS.exists():
    BBC_CORPUS = Path("/work/shared/corpora/bbc-news/bbc.jsonl")
BBC_INDEX = CACHE / "bbc-index"
QUESTIONS = ROOT / "bench" / "ask_questions.jsonl"
K = 5
MAX_CHARS = 500


def open_index(index: Path, corpus: Path):
    from api import Retriever
    from indexer import build_index

    if published_version(index) is None:      # none yet, or a format 1 folder the build upgrades
        print(f"building {index} from {corpus} ...", file=sys.stderr)
        print(build_index([corpus], index, progress=False).describe(), file=sys.stderr)
    return Retriever(index)


def heldout_index():
    """(Retriever over the held-out paragraphs, one article each; [(question, answer, article id, paragraph,
    SQuAD article)])."""
    data = load_squad()
    _, held = split_articles(data)
    index = CACHE / "squad-heldout-index"
    docs, qs = [], []
    for art in held:
        for pi, p in enumerate(art["paragraphs"]):
            aid = f"{art['title']}#{pi}"
            docs.append({"id": aid, "title": art["title"].replace("_", " "), "text": p["context"]})
            for qa in p["qas"]:
                a = qa["answers"][0]
                if answer_start(p["context"], a) >= 0:
                    qs.append((qa["question"], a["text"], aid, p["context"], art))
    if published_version(index) is None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "squad-heldout.jsonl"
            path.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs))
            open_index(index, path)
    from api import Retriever

    return Retriever(index), qs, len(docs)


def judge(answerer, question: str, drop: str | None = None) -> tuple[float, list]:
    """(confidence, the sentences ask would cite when it answers), exactly as Answerer.ask computes them; with
    `drop`, as if that article were not indexed: its passages leave the ranking and the next ones move up."""
    hits = None
    if drop is not None:
        ranked = answerer.retriever.search(question, k=K + 3, answer_spans=False).hits
        hits = [h.model_copy(update={"rank": n})
                for n, h in enumerate((h for h in ranked if h.article.id != drop), 1)][:K]
    p = answerer.prepare(question, K, hits=hits)
    hits, ranked, conf = p.hits, p.ranked, p.confidence
    chosen = answerer.select(ranked)
    return conf, [(c.text, hits[c.source - 1].article.id) for c in chosen]


def outcomes(rows: dict[str, list], right, t: float) -> list[list[bool]]:
    """At threshold t, one flag per question: answerable right, answerable answered, then each other condition's
    declined."""
    ans = rows["answerable"]
    return [[conf >= t and bool(ch) and right(extra, ch) for conf, ch, extra in ans],
            [conf >= t and bool(ch) for conf, ch, _ in ans],
            *([not (conf >= t and bool(ch)) for conf, ch, _ in rows[c]] for c in rows if c != "answerable")]


def sweep(rows: dict[str, list], right, thresholds) -> list[tuple]:
    """Per threshold: answerable right, answerable answered, and the other conditions' shares declined."""
    return [(t, *(float(np.mean(o)) for o in outcomes(rows, right, t))) for t in thresholds]


def share(flags: list[bool]) -> str:
    """The share of true flags with its 95% Wilson interval, "0.845 (0.788-0.889 of 200)": on a sample of a few
    hundred questions a figure a question or two from its target is within the sample's noise."""
    from scipy.stats import binomtest

    k, n = int(sum(flags)), len(flags)
    if not n:
        return "- (of 0)"
    ci = binomtest(k, n).proportion_ci(method="wilson")
    return f"{k / n:.3f} ({ci.low:.3f}-{ci.high:.3f} of {n})"


def seeded_sample(qs: list, rng: random.Random, n: int, skip: int = 0) -> list:
    """Questions skip .. skip+n-1 of the seeded order; the first `skip` are those a run with --n skip reports on.
    random.sample draws one at a time (a longer sample extends a shorter one) only while it picks from a set; at a
    size where it switches to its pool method the order changes, and that is refused rather than silently reused."""
    if skip >= len(qs):
        raise SystemExit(f"--offset {skip}: the held-out fold has {len(qs)} questions; ask for fewer")
    shorter = random.Random()
    shorter.setstate(rng.getstate())       # the order a run with --n skip drew from this same generator
    out = rng.sample(qs, min(skip + n, len(qs)))
    if skip and shorter.sample(qs, skip) != out[:skip]:
        raise SystemExit(f"questions {skip}-{skip + n - 1} of the seeded order: it changes at {skip + n} questions; "
                         "ask for fewer (--offset, --n, --answer-length)")
    return out[skip:]


def squad_eval(n: int, skip: int = 0) -> dict:
    from api.answer import Answerer

    retriever, qs, n_docs = heldout_index()
    answerer = Answerer(retriever)
    rng = random.Random(SEED)
    sample = seeded_sample(qs, rng, n, skip)
    rows = {"answerable": [], "removed": [], "perturbed": [], "swapped": []}
    noun_rng = random.Random(SEED + 7)     # its own stream: the sample and the perturbed questions stay as they were
    t0 = time.perf_counter()
    for i, (q, gold, aid, context, art) in enumerate(sample):
        rows["answerable"].append((*judge(answerer, q), gold))
        rows["removed"].append((*judge(answerer, q, aid), gold))
        caps = sorted({w for p in art["paragraphs"] for w in _caps(p["context"])})
        pq = perturb(q, context, caps, rng)
        if pq:
            rows["perturbed"].append((*judge(answerer, pq), gold))
        sq = swap_noun(q, context, determiner_nouns(p["context"] for p in art["paragraphs"]), noun_rng)
        if sq:
            rows["swapped"].append((*judge(answerer, sq), gold))
        if i % 50 == 0:
            print(f"  {i}/{len(sample)} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    return {"n": len(sample), "paragraphs": n_docs, "perturbed_n": len(rows["perturbed"]),
            "swapped_n": len(rows["swapped"]), "rows": rows}


def answer_length(n: int, reported: int, shares=(0.1, 0.2, 0.3, 0.5)) -> list[tuple]:
    """How many sentences an answer should carry (api/answer.py: KEEP_SHARE), on `n` held-out questions that the
    SQuAD table does not report on (those after the first `reported` of the same seeded order). Per rule: the
    gold answer in the answer (threshold aside), mean characters and sentences."""
    from api.answer import Answerer

    retriever, qs, _ = heldout_index()
    answerer = Answerer(retriever)
    sample = seeded_sample(qs, random.Random(SEED), n, reported)
    ranked = [(gold, answerer.prepare(q, K).ranked) for q, gold, *_ in sample]
    rules = [("former: >= 0.5 and within 0.15 of the best",
              lambda c, best: c.prob >= max(0.5, best.prob - 0.15))]
    rules += [(f"at least {x:g} x the best's", lambda c, best, x=x: c.prob >= x * best.prob) for x in shares]
    out = []
    for name, rule in rules:
        chosen = [(gold, answerer.select(r, keep=rule)) for gold, r in ranked]
        got = [c for _, c in chosen if c]
        out.append((name, np.mean([squad_right(g, [(c.text, "") for c in ch]) for g, ch in chosen]),
                    np.mean([sum(len(c.text) + 1 for c in ch) - 1 for ch in got]), np.mean([len(ch) for ch in got])))
    return out


def squad_right(gold: str, chosen) -> bool:
    text = " ".join(t for t, _ in chosen)
    return len(text) <= MAX_CHARS and gold.lower() in text.lower()


def _caps(text: str):
    from training.train_answer import _CAPSEQ

    return [m.group(1) for m in _CAPSEQ.finditer(text)]


def load_questions(path: Path = QUESTIONS) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def bbc_eval() -> dict:
    from api.answer import Answerer

    answerer = Answerer(open_index(BBC_INDEX, BBC_CORPUS))
    rows = {"answerable": [], "removed": [], "unanswerable": []}
    asked = {"removed": [], "unanswerable": []}      # the question of each row, for --show-wrong
    for q in load_questions():
        if q["article"]:
            rows["answerable"].append((*judge(answerer, q["question"]), (q["article"], q["answer_terms"])))
            rows["removed"].append((*judge(answerer, q["question"], q["article"]), q["answer_terms"]))
            asked["removed"].append(q["question"])
        else:
            rows["unanswerable"].append((*judge(answerer, q["question"]), None))
            asked["unanswerable"].append(q["question"])
    return {"rows": rows, "asked": asked}


def show_wrong(b: dict, t: float) -> None:
    """Each BBC question answered at threshold t although its article is removed or the archive never held the
    answer: confidence, question, and the sentences cited with their articles, to read what misleads the model."""
    for cond in ("removed", "unanswerable"):
        print(f"\nBBC {cond}, answered anyway at {t:.3f}:")
        for question, (conf, chosen, extra) in zip(b["asked"][cond], b["rows"][cond]):
            if conf >= t and chosen:
                held = " (holds an answer term)" if extra and holds_a_term(extra, chosen) else ""
                print(f"  {conf:.2f} {question}{held}")
                for text, article in chosen:
                    print(f"       [{article}] {text}")


def bbc_cited(asked: tuple[str, list[str]], chosen) -> bool:
    """The answer cites the question's article (`asked`: its article and answer terms)."""
    return any(a == asked[0] for _, a in chosen)


def bbc_stated(asked: tuple[str, list[str]], chosen) -> bool:
    """The answer cites the question's article and holds one of its answer terms: the value asked is in it."""
    return bbc_cited(asked, chosen) and holds_a_term(asked[1], chosen)


def answered_anyway(rows: list, t: float, holds) -> tuple[int, int]:
    """(questions answered at threshold t, how many of those answers `holds(extra, chosen)` the gold answer): a
    question whose own passage is gone may still be answered rightly where another passage states the same fact
    (BBC ran some stories twice; a Wikipedia article repeats itself). The targets count every answer as wrong."""
    answered = [(ch, extra) for conf, ch, extra in rows if conf >= t and ch]
    return len(answered), sum(bool(holds(extra, ch)) for ch, extra in answered)


def holds_a_term(terms: list[str], chosen) -> bool:
    text = " ".join(t for t, _ in chosen).lower()
    return any(term.lower() in text for term in terms)


LATENCY_SCRIPT = """
import json, sys, time, numpy as np
sys.path.insert(0, sys.argv[1])
from api import Retriever
r = Retriever(sys.argv[2])
qs = json.loads(sys.argv[3])
for q in qs[:5]:
    r.ask(q, k=5, generate=False)
times = []
for q in qs:
    t = time.perf_counter(); r.ask(q, k=5, generate=False); times.append((time.perf_counter() - t) * 1000)
print(json.dumps({"p50": float(np.percentile(times, 50)), "p95": float(np.percentile(times, 95)), "n": len(qs)}))
"""


def latency(baseline: Path, rounds: int, baseline_index: Path | None = None) -> dict:
    """/ask p50 and p95 of this checkout and of `baseline` over the BBC index (`baseline_index`: the same corpus
    indexed by the baseline's own code, for a checkout older than this index format)."""
    open_index(BBC_INDEX, BBC_CORPUS)
    qs = [q["question"] for q in load_questions()][:100]
    out = {}
    for _ in range(rounds):           # interleaved, so a busy neighbour on the cores weighs on both alike
        for name, root, index in (("baseline", baseline, baseline_index or BBC_INDEX), ("this", ROOT, BBC_INDEX)):
            env = {**os.environ, "PYTHONPATH": str(root)}
            res = subprocess.run([sys.executable, "-c", LATENCY_SCRIPT, str(root), str(index), json.dumps(qs)],
                                 env=env, capture_output=True, text=True, check=True, cwd=root)
            out.setdefault(name, []).append(json.loads(res.stdout.strip().splitlines()[-1]))
    return {name: {"p50": float(np.median([r["p50"] for r in runs])),
                   "p95": float(np.median([r["p95"] for r in runs])), "n": runs[0]["n"], "rounds": len(runs)}
            for name, runs in out.items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=300, help="held-out SQuAD questions sampled (seeded)")
    ap.add_argument("--offset", type=int, default=0,
                    help="skip the first OFFSET questions of the seeded order (a fresh sample beside --n's: "
                         "--offset 600 skips the 200 reported and the 400 --answer-length tuned on)")
    ap.add_argument("--skip-squad", action="store_true")
    ap.add_argument("--skip-bbc", action="store_true")
    ap.add_argument("--latency", action="store_true")
    ap.add_argument("--baseline", type=Path, default=Path("/work/baseline"))
    ap.add_argument("--baseline-index", type=Path, default=None,
                    help="the BBC corpus indexed by the baseline checkout (one older than this index format)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--show-wrong", action="store_true",
                    help="list the BBC questions answered with their article removed or with no answer in the "
                         "archive, with the sentences cited")
    ap.add_argument("--answer-length", type=int, default=0, metavar="N",
                    help="compare answer-length rules on N held-out questions after those the SQuAD table "
                         "reports (--offset + --n)")
    args = ap.parse_args(argv)
    from api.answer import model, threshold

    t0 = threshold()
    t1 = model().config.get("answer_first_threshold")     # the rule until session 15, kept for archives that want it
    print(f"answer model threshold {t0:.3f} (bold rows)" + (f"; answering first {t1:.3f} (italic rows)" if t1 else ""))
    grid = sorted({0.05, 0.1, t0, 0.25, 0.35, 0.5} | ({t1} if t1 else set()))

    def label(t: float) -> str:
        return f"**{t:.3f}**" if t == t0 else f"_{t:.3f}_" if t == t1 else f"{t:.3f}"

    if not args.skip_squad:
        s = squad_eval(args.n, args.offset)
        print(f"\nSQuAD held-out fold: n={s['n']} questions (seeded sample"
              + (f", after its first {args.offset}" if args.offset else "") + f") over an index of {s['paragraphs']} "
              f"held-out paragraphs (one article per paragraph); {s['perturbed_n']} perturbed questions, "
              f"{s['swapped_n']} with a word swapped")
        print("| threshold | gold answer in a cited answer of <= 500 chars (>= 0.85) | answered (>= 0.93) | declined "
              "with own paragraph left out (>= 0.85) | perturbed declined (>= 0.80) | word swapped declined |\n"
              "|---|---|---|---|---|---|")
        for t, *v in sweep(s["rows"], squad_right, grid):
            print(f"| {label(t)} | " + " | ".join(f"{x:.3f}" for x in v) + " |")
        right, answered, left_out, perturbed, swapped = outcomes(s["rows"], squad_right, t0)
        print(f"at {t0:.3f}, with 95% intervals: right {share(right)}; answered {share(answered)}; declined with own "
              f"paragraph left out {share(left_out)}; perturbed declined {share(perturbed)}; word swapped declined "
              f"{share(swapped)}")
        n, right = answered_anyway(s["rows"]["removed"], t0, squad_right)
        print(f"own paragraph left out, at {t0:.3f}: {n} of {s['n']} answered anyway; {right} of these answers hold "
              "the gold answer (another paragraph of the fold states it)")
    if args.answer_length:
        print(f"\nAnswer length: runners-up kept, on {args.answer_length} held-out questions not in the table above "
              "(gold answer in the answer, threshold aside)")
        print("| runner-up kept when its probability is | gold answer in the answer | characters | sentences |\n"
              "|---|---|---|---|")
        for name, right, chars, sents in answer_length(args.answer_length, args.offset + args.n):
            print(f"| {name} | {right:.3f} | {chars:.0f} | {sents:.2f} |")
    if not args.skip_bbc:
        b = bbc_eval()
        r = b["rows"]
        print(f"\nBBC (bench/ask_questions.jsonl: {len(r['answerable'])} answerable, {len(r['unanswerable'])} "
              "unanswerable; out-of-domain for the model)")
        print("| threshold | answerable answered and citing their article (>= 0.90) | ... and holding an answer term "
              "| answerable answered | article removed, answered anyway (<= 0.15) | unanswerable answered anyway "
              "(<= 0.15) |\n|---|---|---|---|---|---|")
        stated = [row[1] for row in sweep(r, bbc_stated, grid)]
        for (t, right, answered, removed_declined, none_declined), holds in zip(sweep(r, bbc_cited, grid), stated):
            print(f"| {label(t)} | {right:.3f} | {holds:.3f} | {answered:.3f} | "
                  f"{1 - removed_declined:.3f} | {1 - none_declined:.3f} |")
        cited, _, removed, unanswerable = outcomes(r, bbc_cited, t0)
        print(f"at {t0:.3f}, with 95% intervals: answered and citing their article {share(cited)}; ... and holding "
              f"an answer term {share(outcomes(r, bbc_stated, t0)[0])}; article removed, answered anyway "
              f"{share([not d for d in removed])}; unanswerable answered anyway {share([not d for d in unanswerable])}")
        n, right = answered_anyway(r["removed"], t0, holds_a_term)
        print(f"article removed, at {t0:.3f}: {n} of {len(r['removed'])} answered anyway; {right} of these answers "
              "hold one of the question's answer terms (another article states it)")
        if args.show_wrong:
            show_wrong(b, t0)
    if args.latency:
        lat = latency(args.baseline, args.rounds, args.baseline_index)
        print(f"\n/ask latency over the BBC index (Retriever.ask in-process, {lat['this']['n']} questions, "
              f"median of {lat['this']['rounds']} interleaved rounds)")
        print("| checkout | p50 ms | p95 ms |\n|---|---|---|")
        for name in ("baseline", "this"):
            print(f"| {name} | {lat[name]['p50']:.1f} | {lat[name]['p95']:.1f} |")
        print(f"ratio p50 this/baseline: {lat['this']['p50'] / lat['baseline']['p50']:.2f} (target <= 2)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
