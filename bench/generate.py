"""Seeded CSV data sets for the benchmarks: 10 typed columns, quoted commas and newlines.

    python bench/generate.py ROWS PATH [--seed N]
"""
from __future__ import annotations

import argparse
import csv
import random
from pathlib import Path

CITIES = ["Denver", "Boulder, CO", "Paris", "São Paulo", "Zürich", "New York, NY"]
WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"]


def rows(count: int, seed: int):
    rnd = random.Random(seed)
    for i in range(1, count + 1):
        note = " ".join(rnd.choices(WORDS, k=rnd.randint(1, 6)))
        if rnd.random() < 0.05:
            note += "\nsecond line, with a comma"
        yield [i, f"name {i}", rnd.choice(CITIES), rnd.randint(0, 99), round(rnd.uniform(0, 1000), 2),
               rnd.choice(["true", "false"]), note, f"{rnd.randint(0, 99999):05d}",
               rnd.randint(-10 ** 12, 10 ** 12), rnd.choice(["", "NULL", "x"])]


def write(count: int, path: Path, seed: int = 7) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["id", "name", "city", "age", "score", "active", "note", "code", "balance", "flag"])
        writer.writerows(rows(count, seed))
    return path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", type=int)
    parser.add_argument("path", type=Path)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    write(args.rows, args.path, args.seed)
