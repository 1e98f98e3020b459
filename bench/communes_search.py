"""How fast is the commune search that regulators will type into? Prints figures.

Loads the official list once (cold), then times typical queries (warm).
"""

from __future__ import annotations

import statistics
import time
import tracemalloc

from app import communes_ref

QUERIES = ["85047", "85300", "challans", "saint", "sables", "CC Challans-Gois Communauté", "île"]


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
        runs = []
        for _ in range(20):
            t = time.perf_counter()
            found = communes_ref.search(query)
            runs.append(time.perf_counter() - t)
        print(
            f"search {query!r:32} {len(found):3d} results  median {statistics.median(runs) * 1000:6.2f} ms"
        )


if __name__ == "__main__":
    main()
