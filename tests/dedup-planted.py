"""Planted-duplicate corpus for sr-dedup, and the scorer of its output.

  dedup-planted.py make SHARED OUT.jsonl TRUTH.json [--copies K] [--cjk]
  dedup-planted.py score TRUTH.json KEPT.jsonl DUPS.jsonl KINDS MIN_RECALL MIN_PRECISION

`make` takes real texts of 50 words or more from the shared data sets,
drops any text whose word-trigram Jaccard similarity with an earlier one is
0.3 or more (so the bases are distinct by construction), and writes each
base followed later by planted variants: case, white space, punctuation,
one word changed, one sentence appended. TRUTH maps every id to its base.

`score` checks that every base is kept, measures recall per variant kind
(a variant counts when it is dropped as a duplicate of its own base) and
precision (of all dropped records, the share whose duplicate_of is in the
same cluster), prints them and exits 1 when a listed kind's recall or the
precision is below the minimum.
"""
import glob
import json
import random
import re
import sys

PUNCT = re.compile(r"[^\w\s$+<=>^`|~]", re.UNICODE)


def norm_words(text):
    return PUNCT.sub(" ", text.lower()).split()


def trigrams(text):
    w = norm_words(text)
    return {tuple(w[i:i + 3]) for i in range(max(1, len(w) - 2))}


def shared_texts(shared):
    out = []
    with open(shared + "/alpaca_eval/text_davinci_003_model_outputs.json") as f:
        out += [r["output"] for r in json.load(f)]
    for path in sorted(glob.glob(shared + "/refusal_direction/completions/*/*.json")):
        with open(path) as f:
            out += [c["response"] for c in json.load(f)["completions"]]
    return [t.strip() for t in out if len(t.split()) >= 50]


def distinct(texts, limit):
    kept, sets, index = [], [], {}
    for t in texts:
        s = trigrams(t)
        near = False
        seen = set()
        for g in s:
            for k in index.get(g, ()):
                if k in seen:
                    continue
                seen.add(k)
                if len(s & sets[k]) / len(s | sets[k]) >= 0.3:
                    near = True
                    break
            if near:
                break
        if near:
            continue
        for g in s:
            index.setdefault(g, []).append(len(kept))
        kept.append(t)
        sets.append(s)
        if len(kept) == limit:
            break
    return kept


CJK = ("的一是不了人我在有他这中大来上个国和也子时道出会说年就那要下以生"
       "能对过自后于作里家用发成方多经么去法学如都同现当没动面起看定天分还"
       "进好小部其些主样理心她本前开但因只从想实日军者意无力它与长把机十民"
       "第公此已工使情明性知全三又关点正业外将两高间由问很最重并物手应战向")


def cjk_texts(rng, n):
    """Sentences of random common Han characters joined by full stops."""
    out = []
    for _ in range(n):
        sentences = []
        for _ in range(rng.randint(4, 7)):
            sentences.append("".join(rng.choice(CJK) for _ in range(rng.randint(12, 24))))
        out.append("。".join(sentences) + "。")
    return out


def variants(text, rng, vocab, other, cjk):
    v = {}
    v["case"] = text.upper() if rng.random() < 0.5 else text.swapcase()
    v["space"] = re.sub(r" ", lambda m: rng.choice(["  ", " \n ", "\t", " "]), text)
    v["punct"] = (re.sub(r"[.,;:!?'\"()-]", "", text) if rng.random() < 0.5
                  else re.sub(r" ", lambda m: ", " if rng.random() < 0.1 else " ", text))
    if cjk:
        i = rng.randrange(len(text) - 1)
        while text[i] == "。":
            i = rng.randrange(len(text) - 1)
        v["word"] = text[:i] + rng.choice([c for c in CJK if c != text[i]]) + text[i + 1:]
        v["sentence"] = text + "".join(rng.choice(CJK) for _ in range(rng.randint(10, 20))) + "。"
    else:
        words = text.split(" ")
        i = rng.randrange(len(words))
        words[i] = rng.choice([w for w in vocab if w.lower() != words[i].lower()])
        v["word"] = " ".join(words)
        # A sentence of 6 to 30 words, at least 6 of them made of letters.
        sentence = [s for s in re.split(r"(?<=[.!?])\s+", other)
                    if 6 <= len(s.split()) <= 30 and len(re.findall(r"[A-Za-z]{2,}", s)) >= 6]
        extra = sentence[0] if sentence else "This sentence was added at the end of the text."
        v["sentence"] = text + " " + extra
    return v


def make(shared, out_path, truth_path, copies, use_cjk):
    rng = random.Random(20261204)
    texts = cjk_texts(rng, 300) if use_cjk else distinct(shared_texts(shared), 1200)
    vocab = sorted({w for t in texts[:200] for w in re.findall(r"[A-Za-z]{4,12}", t)}) or ["word"]
    records, truth = [], {}
    for b, t in enumerate(texts):
        bid = "base-%d" % b
        records.append((b * 10, {"id": bid, "query": t, "n": 1}))
        truth[bid] = {"base": bid, "kind": "base"}
    for b, t in enumerate(texts):
        if b % copies != 0:
            continue
        other = texts[(b * 7 + 13) % len(texts)]
        for kind, text in variants(t, rng, vocab, other, use_cjk).items():
            vid = "base-%d-%s" % (b, kind)
            # Variants follow their base at a random later position.
            records.append((b * 10 + rng.randint(1, len(texts) * 10), {"id": vid, "query": text}))
            truth[vid] = {"base": "base-%d" % b, "kind": kind}
    records.sort(key=lambda r: r[0])
    with open(out_path, "w") as f:
        for _, r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    with open(truth_path, "w") as f:
        json.dump(truth, f)
    print("%d bases, %d records" % (len(texts), len(records)))


def score(truth_path, kept_path, dups_path, kinds, min_recall, min_precision):
    with open(truth_path) as f:
        truth = json.load(f)
    kept = [json.loads(l)["id"] for l in open(kept_path)]
    dups = [json.loads(l) for l in open(dups_path)]
    bad = False
    missing = [i for i, t in truth.items() if t["kind"] == "base" and i not in kept]
    if missing:
        print("FAIL: %d distinct bases were dropped, e.g. %s" % (len(missing), missing[:5]))
        bad = True
    found = {d["id"]: d for d in dups}
    right = sum(1 for d in dups if truth[d["id"]]["base"] == truth[d["duplicate_of"]]["base"])
    precision = right / len(dups) if dups else 1.0
    print("precision %.4f (%d of %d dropped records in the right cluster)" % (precision, right, len(dups)))
    if precision < min_precision:
        print("FAIL: precision below %.2f" % min_precision)
        for d in dups:
            if truth[d["id"]]["base"] != truth[d["duplicate_of"]]["base"]:
                print("  wrong: %s -> %s (%.3f)" % (d["id"], d["duplicate_of"], d["similarity"]))
                break
        bad = True
    for kind in ["case", "space", "punct", "word", "sentence"]:
        ids = [i for i, t in truth.items() if t["kind"] == kind]
        hit = sum(1 for i in ids if i in found and found[i]["duplicate_of"] == truth[i]["base"])
        recall = hit / len(ids) if ids else 1.0
        want = kind in kinds.split(",")
        print("recall %-8s %.4f (%d of %d)%s" % (kind, recall, hit, len(ids), "" if want else " (not required)"))
        if want and recall < min_recall:
            print("FAIL: recall of %s below %.2f" % (kind, min_recall))
            bad = True
    return 1 if bad else 0


def main():
    if sys.argv[1] == "make":
        copies = int(sys.argv[sys.argv.index("--copies") + 1]) if "--copies" in sys.argv else 1
        make(sys.argv[2], sys.argv[3], sys.argv[4], copies, "--cjk" in sys.argv)
        return 0
    return score(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], float(sys.argv[6]),
                 float(sys.argv[7]))


if __name__ == "__main__":
    sys.exit(main())
