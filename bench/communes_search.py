"""How fast is the commune search that regulators will type into? Prints figures.

Loads the official list once (cold), then times typical queries (warm): the forgiving
exact search (``search``) and the typo ranking (``suggest``) over a territory's communes
first, then the country's. Budget: 10 ms per search.
"""

from __future__ import annotations

import statistics
import time
import tracemalloc

from app import communes_ref

QUERIES = [
    "85047",
    "85300",
    "challans",
    "saint",
    "st gilles",
    "st hilaire de riez",
    "sables",
    "CC Challans-Gois Communauté",
    "île",
]
TYPOS = ["Chalans", "st hilair de riez", "marseile", "xqzwvkpt"]
# The demo territory's neighbourhood: a few Vendée communes searched "locally first".
AMONG = ("85047", "85222", "85234", "85226", "85194")


def timed(fn, query: str) -> tuple[int, float, float]:
    runs = []
    for _ in range(30):
        t = time.perf_counter()
        found = fn(query)
        runs.append(time.perf_counter() - t)
    runs.sort()
    return len(found), statistics.median(runs) * 1000, runs[int(len(runs) * 0.9)] * 1000


def main() -> None:
    tracemalloc.start()
    start = time.perf_counter()
    ref = communes_ref.reference()
    cold = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"official list: {len(ref.communes)} communes, {len(ref.epci_names)} EPCI")
    print(f"cold load: {cold * 1000:.0f} ms, peak Python memory {peak / 2**20:.1f} MiB")
    for query in QUERIES:
        n, median, p90 = timed(lambda q: communes_ref.search(q, among=AMONG), query)
        print(f"search  {query!r:32} {n:3d} results  median {median:6.2f} ms  p90 {p90:6.2f} ms")
    for query in TYPOS:
        n, median, p90 = timed(lambda q: communes_ref.suggest(q, among=AMONG), query)
        best = communes_ref.suggest(query, among=AMONG)[:1]
        label = best[0].label if best else "-"
        print(
            f"suggest {query!r:32} {n:3d} results  median {median:6.2f} ms  p90 {p90:6.2f} ms"
            f"  -> {label}"
        )


if __name__ == "__main__":
    main()
