"""A worker's long-lived objects leave the garbage collector's full passes (``app.warmup``),
and gunicorn does it in every worker once the app is loaded."""

from __future__ import annotations

import gc
import runpy
from pathlib import Path

import pytest

from app import communes_ref, warmup

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def unfreeze():
    yield
    gc.unfreeze()  # the rest of this test process collects everything again


def test_settle_loads_the_communes_and_freezes_what_is_alive(app, unfreeze):
    tracked_before = len(gc.get_objects())
    frozen = warmup.settle()
    assert communes_ref.reference.cache_info().currsize == 1
    assert frozen == gc.get_freeze_count()
    assert frozen >= tracked_before // 2  # the app, its caches, the commune list
    # Full passes now walk only what is created afterwards.
    assert len(gc.get_objects()) < frozen // 10


def test_gunicorn_settles_each_worker_after_loading_the_app(monkeypatch):
    settings = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    calls = []
    monkeypatch.setattr(warmup, "settle", lambda: calls.append(True) or 0)
    settings["post_worker_init"](object())
    assert calls == [True]
