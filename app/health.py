"""Liveness for load balancers and monitoring."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import Blueprint, jsonify

from app.extensions import db

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


@bp.get("/healthz")
def healthz():
    """200 when the database answers, 503 otherwise."""
    try:
        db.session.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError:
        log.warning("health check: database unreachable")
        db.session.rollback()
        return jsonify(
            status="unavailable",
            code="database_unavailable",
            message="La base de données ne répond pas.",
        ), 503
    return jsonify(status="ok")
