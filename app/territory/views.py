"""Coordinator pages (placeholder until written)."""

from flask import Blueprint

bp = Blueprint("territory", __name__)


@bp.get("/coordination")
def overview():
    return "x"


@bp.get("/coordination/communes")
def communes():
    return "x"


@bp.get("/coordination/lieux")
def sites():
    return "x"


@bp.get("/coordination/professionnels")
def practitioners():
    return "x"


@bp.get("/coordination/comptes")
def users():
    return "x"


@bp.get("/admin/territoires")
def admin_territories():
    return "x"
