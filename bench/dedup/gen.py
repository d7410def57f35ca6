"""Write about MIB mebibytes of query records with planted duplicates.

Usage: gen.py MIB > file.jsonl

Records are 40 to 100 words drawn from a 20,000-word vocabulary. After
the first thousand, 15% repeat an earlier record with case, white space or
punctuation changed (exact duplicates once normalised) and 15% repeat one
with a word changed or a sentence appended (near duplicates). Deterministic
(fixed seed), so runs compare.
"""
import json
import random
import sys


def vocabulary(rng, n):
    syllables = ["ka", "lo", "mi", "ne", "ru", "ta", "po", "si", "ve", "da", "gu", "ber",
                 "tor", "lan", "mes", "qui", "zo", "fa", "hel", "win", "ox", "ar", "ent", "ion"]
    words = set()
    while len(words) < n:
        words.add("".join(rng.choice(syllables) for _ in range(rng.randint(1, 4))))
    return sorted(words)


def main():
    target = int(sys.argv[1]) << 20
    rng = random.Random(20261204)
    words = vocabulary(rng, 20000)
    recent = []
    out = sys.stdout
    written = 0
    i = 0
    while written < target:
        i += 1
        roll = rng.random()
        if len(recent) >= 1000 and roll < 0.15:
            text = rng.choice(recent)
            kind = rng.randrange(3)
            if kind == 0:
                text = text.upper()
            elif kind == 1:
                text = text.replace(" ", "  ")
            else:
                text = text.replace(".", "").replace(",", "")
        elif len(recent) >= 1000 and roll < 0.30:
            parts = rng.choice(recent).split(" ")
            if rng.random() < 0.5:
                parts[rng.randrange(len(parts))] = rng.choice(words)
            else:
                parts += [rng.choice(words) for _ in range(rng.randint(8, 15))]
            text = " ".join(parts)
        else:
            n = rng.randint(40, 100)
            ws = [rng.choice(words) for _ in range(n)]
            for k in range(8, n, rng.randint(8, 16)):
                ws[k] += "."
            ws[0] = ws[0].capitalize()
            text = " ".join(ws) + "."
            if len(recent) < 20000:
                recent.append(text)
            else:
                recent[rng.randrange(20000)] = text
        rec = {"id": "bench-%d" % i, "source": "bench",
               "label": "harmful" if i % 3 == 0 else "benign", "query": text,
               "meta": {"row": i, "big": 12345678901234567890}}
        line = json.dumps(rec, separators=(",", ":")) + "\n"
        out.write(line)
        written += len(line)


if __name__ == "__main__":
    main()
