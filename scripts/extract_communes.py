"""Build ``app/data/communes.json.gz`` from the ``@etalab/decoupage-administratif`` npm package.

Usage::

    npm pack @etalab/decoupage-administratif && tar xzf etalab-decoupage-administratif-*.tgz
    python scripts/extract_communes.py package/data app/data/communes.json.gz

We keep current communes and the municipal arrondissements of Paris, Lyon and
Marseille (the only communes that are ever split between CPTS), and only the fields the
app uses, as rows of a table, so the file stays around 400 kB.
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

KEPT_TYPES = {"commune-actuelle", "arrondissement-municipal"}
COLUMNS = ["code", "nom", "codes_postaux", "population", "departement", "epci", "type"]


def build(source: Path) -> dict:
    communes = json.loads((source / "communes.json").read_text(encoding="utf-8"))
    epcis = json.loads((source / "epci.json").read_text(encoding="utf-8"))
    epci_of = {m["code"]: e["code"] for e in epcis for m in e["membres"]}
    rows = [
        [
            c["code"],
            c["nom"],
            c.get("codesPostaux", []),
            c.get("population", 0),
            c.get("departement", ""),
            epci_of.get(c["code"]) or "",
            "arrondissement" if c["type"] == "arrondissement-municipal" else "commune",
        ]
        for c in communes
        if c["type"] in KEPT_TYPES
    ]
    rows.sort(key=lambda r: r[0])
    return {
        "columns": COLUMNS,
        "communes": rows,
        "epci": sorted([e["code"], e["nom"]] for e in epcis),
    }


def main(argv: list[str]) -> None:
    source, target = Path(argv[1]), Path(argv[2])
    payload = json.dumps(build(source), ensure_ascii=False, separators=(",", ":"))
    with gzip.GzipFile(target, "wb", mtime=0) as fh:
        fh.write(payload.encode("utf-8"))


if __name__ == "__main__":
    main(sys.argv)
