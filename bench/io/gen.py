"""Write N MiB of query-like JSON Lines records of about 600 bytes each.

Usage: gen.py MIB > file.jsonl. Deterministic (fixed seed), so runs compare.
"""
import json
import random
import sys

WORDS = ("the of and to in is how can I a for make explain write step list "
         "with without detailed guide safe chemistry history python process "
         "network account password story essay code recipe plan").split()


def main():
    target = int(sys.argv[1]) << 20
    rng = random.Random(1)
    out = sys.stdout
    written = 0
    i = 0
    while written < target:
        i += 1
        query = " ".join(rng.choice(WORDS) for _ in range(rng.randint(60, 100)))
        rec = {
            "id": f"bench-{i}",
            "source": "bench",
            "label": rng.choice(["harmful", "benign"]),
            "category": rng.choice(["cybercrime", "fraud", "none"]),
            "query": query,
            "meta": {"row": i, "score": 12345678901234567890, "tags": ["a", "b"]},
        }
        line = json.dumps(rec, separators=(",", ":"), ensure_ascii=False) + "\n"
        out.write(line)
        written += len(line.encode("utf-8"))


main()
