"""Time ``load_demo()`` on a fresh SQLite database (and PostgreSQL if TEST_DATABASE_URL is set)."""

from __future__ import annotations

import os
import tempfile
import time

from app import create_app
from app.extensions import db
from demo.loader import load_demo


def run(url: str, label: str) -> None:
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench"})
    with app.app_context():
        db.drop_all()
        db.create_all()
        start = time.perf_counter()
        load_demo()
        elapsed = time.perf_counter() - start
        db.drop_all()
        db.engine.dispose()
    print(f"{label:12} load_demo(): {elapsed:.2f} s")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        run(f"sqlite:///{tmp}/bench.sqlite3", "SQLite")
    if url := os.environ.get("TEST_DATABASE_URL"):
        run(url, "PostgreSQL")


if __name__ == "__main__":
    main()
