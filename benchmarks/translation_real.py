"""Translation from a real file of sentence pairs: a small zoo Transformer trained with
`zoo train transformer_base --pairs FILE`, its export's `translate` signature (strings in, strings
out) scored on the held-out test split beside the copy-the-source baseline.

Usage:
    python benchmarks/translation_real.py --data DIR [--file fra.txt] [--epochs 10] [--seed 0]

DIR holds a TSV of pairs that you brought yourself (nothing is downloaded): e.g. the
manythings.org / Tatoeba English-French file `fra.txt` (source TAB target a line, further columns
ignored). The pairs are split 80/10/10 with `--seed` as `zoo train --pairs` splits them; the
figures are on the test split: corpus BLEU (sacrebleu when installed, else `corpus_bleu` below:
BLEU-4 with the brevity penalty, on words and punctuation marks) and exact match of the
detokenised strings. Prints one markdown row per system.
"""

import argparse
import collections
import json
import math
import os
import re
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

MODEL = ["--set", "num_layers=2", "--set", "d_model=128", "--set", "d_ff=256", "--set",
         "num_heads=4", "--set", "dropout=0.1"]


def _words(text):
    return re.findall(r"\w+|[^\w\s]", text)


def corpus_bleu(hypotheses, references, max_n=4):
    """Corpus BLEU (Papineni et al. 2002) in percent: clipped n-gram precisions (n = 1..4)
    summed over the corpus, their geometric mean times the brevity penalty; one reference per
    sentence, words and punctuation marks as tokens. 0 when a precision is 0."""
    matches, totals = [0] * max_n, [0] * max_n
    hyp_len = ref_len = 0
    for hyp, ref in zip(hypotheses, references):
        h, r = _words(hyp), _words(ref)
        hyp_len, ref_len = hyp_len + len(h), ref_len + len(r)
        for n in range(1, max_n + 1):
            hc = collections.Counter(tuple(h[i:i + n]) for i in range(len(h) - n + 1))
            rc = collections.Counter(tuple(r[i:i + n]) for i in range(len(r) - n + 1))
            matches[n - 1] += sum(min(c, rc[g]) for g, c in hc.items())
            totals[n - 1] += max(len(h) - n + 1, 0)
    if min(matches) == 0 or hyp_len == 0:
        return 0.0
    log_precision = sum(math.log(m / t) for m, t in zip(matches, totals)) / max_n
    brevity = 1.0 if hyp_len > ref_len else math.exp(1 - ref_len / hyp_len)
    return 100.0 * brevity * math.exp(log_precision)


def bleu(hypotheses, references):
    """`(score, which)`: sacrebleu's corpus BLEU when installed, else `corpus_bleu`."""
    try:
        import sacrebleu
    except ImportError:
        return corpus_bleu(hypotheses, references), "corpus_bleu (benchmarks/translation_real.py)"
    return sacrebleu.corpus_bleu(hypotheses, [references]).score, f"sacrebleu {sacrebleu.__version__}"


def scores(hypotheses, pairs):
    refs = [t for _, t in pairs]
    value, which = bleu(hypotheses, refs)
    exact = sum(h == r for h, r in zip(hypotheses, refs)) / len(refs)
    return {"bleu": round(value, 2), "exact_match": round(exact, 4), "bleu_by": which}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="the folder holding the file of pairs")
    p.add_argument("--file", default="fra.txt", help="the TSV file in --data")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--vocab-size", type=int, default=4000)
    p.add_argument("--max-length", type=int, default=24)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--work", default=None, help="run and export folder (default: a temporary one)")
    args = p.parse_args(argv)
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (the SentencePiece op of the export)

    from zoo.cli import main as zoo
    from zoo.data.pairs import read_pairs, split_pairs

    path = os.path.join(args.data, args.file)
    pairs, _ = read_pairs(path, "--data")
    _, _, test = split_pairs(pairs, seed=args.seed)  # what `zoo train --pairs` holds out
    work = args.work or tempfile.mkdtemp(prefix="zoo-translation-")
    cmd = ["train", "transformer_base", "--pairs", path, "--vocab-size", str(args.vocab_size),
           "--max-length", str(args.max_length), *MODEL, "--epochs", str(args.epochs),
           "--batch-size", str(args.batch_size), "--lr", "1e-3", "--warmup-steps", "200",
           "--label-smoothing", "0.1", "--seed", str(args.seed), "--decode-examples", "0",
           "--run-dir", os.path.join(work, "run"), "--export-dir", os.path.join(work, "sm"),
           "--quiet"]
    start = time.time()
    if zoo(cmd) != 0:
        raise SystemExit("training failed")
    train_s = time.time() - start
    served = tf.saved_model.load(os.path.join(work, "sm", "transformer_base", "1"))
    hyps = []
    for i in range(0, len(test), 256):
        out = served.signatures["translate"](text=tf.constant([s for s, _ in test[i:i + 256]]))
        hyps += [t.decode() for t in out["translation"].numpy()]
    rows = {"copy the source": scores([s for s, _ in test], test),
            "zoo transformer (translate, beam 4)": scores(hyps, test)}
    print(f"# {path}: {len(pairs)} pairs, {len(test)} test pairs, seed {args.seed}, "
          f"training {train_s:.0f} s")
    print("| system | BLEU | exact match |\n| --- | --- | --- |")
    for name, r in rows.items():
        print(f"| {name} | {r['bleu']:.2f} | {r['exact_match']:.4f} |")
    print(json.dumps({"rows": rows, "examples": list(zip([s for s, _ in test[:5]], hyps[:5])),
                      "command": "python benchmarks/translation_real.py " + " ".join(
                          argv if argv is not None else sys.argv[1:])}, ensure_ascii=False))


if __name__ == "__main__":
    main()
