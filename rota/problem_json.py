"""The engine's JSON format (``docs/rota-format.md``): read a Problem, write a Solution."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from rota.engine import (
    CATEGORIES,
    WEEKDAY,
    Doctor,
    Lock,
    Problem,
    Session,
    Solution,
    Unavailability,
)


class FormatError(ValueError):
    """The instance file does not follow the documented format (French message)."""


def _aware(value: Any, where: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError) as exc:
        raise FormatError(f"{where} : date-heure ISO 8601 attendue, reçu {value!r}.") from exc
    if parsed.tzinfo is None:
        raise FormatError(f"{where} : la date-heure doit porter un décalage (ex. +01:00).")
    return parsed


def _session(raw: dict[str, Any], i: int) -> Session:
    where = f"sessions[{i}]"
    try:
        starts_at = _aware(raw["starts_at"], f"{where}.starts_at")
        ends_at = _aware(raw["ends_at"], f"{where}.ends_at")
        category = raw.get("category", WEEKDAY)
        if category not in CATEGORIES:
            raise FormatError(f"{where}.category : {' ou '.join(CATEGORIES)} attendu.")
        if ends_at <= starts_at:
            raise FormatError(f"{where} : la fin doit suivre le début.")
        return Session(
            id=int(raw["id"]),
            site_id=int(raw["site_id"]),
            starts_at=starts_at,
            ends_at=ends_at,
            local_date=date.fromisoformat(raw["local_date"])
            if "local_date" in raw
            else starts_at.date(),
            gps_needed=int(raw.get("gps_needed", 1)),
            category=category,
            site_name=str(raw.get("site_name", "")),
        )
    except KeyError as exc:
        raise FormatError(f"{where} : champ obligatoire manquant {exc}.") from exc


def _target_sessions(value: Any, where: str) -> int | None:
    """Optional (older files have no such field); a whole number of sessions, never negative."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise FormatError(f"{where}.target_sessions : nombre entier positif ou nul attendu.")
    return value


def _flag(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise FormatError(f"{where} : true ou false attendu.")
    return value


def _period(raw: Any) -> tuple[date, date] | None:
    """Optional ``{"start": "YYYY-MM-DD", "end": "YYYY-MM-DD"}``: the period's days."""
    if raw is None:
        return None
    try:
        start, end = date.fromisoformat(raw["start"]), date.fromisoformat(raw["end"])
    except (TypeError, KeyError, ValueError) as exc:
        raise FormatError('period : {"start": "AAAA-MM-JJ", "end": "AAAA-MM-JJ"} attendu.') from exc
    if end < start:
        raise FormatError("period : la fin doit suivre le début.")
    return start, end


def _doctor(raw: dict[str, Any], i: int) -> Doctor:
    where = f"doctors[{i}]"
    try:
        return Doctor(
            id=int(raw["id"]),
            name=str(raw.get("name", "")),
            site_ids=frozenset(int(x) for x in raw["site_ids"]),
            weight=float(raw.get("weight", 1.0)),
            unavailable=tuple(
                Unavailability(
                    _aware(u["start"], f"{where}.unavailable.start"),
                    _aware(u["end"], f"{where}.unavailable.end"),
                    exempt=_flag(u.get("exempt", False), f"{where}.unavailable.exempt"),
                )
                for u in raw.get("unavailable", [])
            ),
            max_per_day=int(raw.get("max_per_day", 1)),
            max_per_week=raw.get("max_per_week"),
            max_per_period=raw.get("max_per_period"),
            owed=tuple(sorted((str(k), float(v)) for k, v in raw.get("owed", {}).items())),
            preferred_weekdays=frozenset(int(x) for x in raw.get("preferred_weekdays", [])),
            preferred_site_ids=frozenset(int(x) for x in raw.get("preferred_site_ids", [])),
            avoid_dates=frozenset(date.fromisoformat(x) for x in raw.get("avoid_dates", [])),
            usual_site_id=raw.get("usual_site_id"),
            target_sessions=_target_sessions(raw.get("target_sessions"), where),
        )
    except KeyError as exc:
        raise FormatError(f"{where} : champ obligatoire manquant {exc}.") from exc


def problem_from_json(data: Any) -> Problem:
    if not isinstance(data, dict):
        raise FormatError("Le fichier doit contenir un objet JSON.")
    try:
        sessions = tuple(_session(raw, i) for i, raw in enumerate(data.get("sessions", [])))
        doctors = tuple(_doctor(raw, i) for i, raw in enumerate(data.get("doctors", [])))
        locks = tuple(
            Lock(int(raw["session_id"]), int(raw["doctor_id"])) for raw in data.get("locks", [])
        )
    except (TypeError, ValueError, AttributeError) as exc:
        if isinstance(exc, FormatError):
            raise
        raise FormatError(f"Valeur invalide dans le fichier : {exc}.") from exc
    if len({s.id for s in sessions}) != len(sessions):
        raise FormatError("Deux plages portent le même identifiant.")
    if len({d.id for d in doctors}) != len(doctors):
        raise FormatError("Deux médecins portent le même identifiant.")
    known_s, known_d = {s.id for s in sessions}, {d.id for d in doctors}
    for lock in locks:
        if lock.session_id not in known_s or lock.doctor_id not in known_d:
            raise FormatError(f"Affectation verrouillée inconnue : {lock}.")
    return Problem(
        sessions,
        doctors,
        locks,
        float(data.get("min_rest_hours", 10)),
        period=_period(data.get("period")),
    )


def solution_to_json(solution: Solution) -> dict[str, Any]:
    return {
        "assignments": [
            {"session_id": a.session_id, "doctor_id": a.doctor_id, "locked": a.locked}
            for a in solution.assignments
        ],
        "unfilled": [
            {"session_id": u.session_id, "missing": u.missing, "reason": u.reason}
            for u in solution.unfilled
        ],
        "explanations": {
            str(e.doctor_id): {
                "loads": e.loads,
                "targets": {k: round(v, 3) for k, v in e.targets.items()},
                "shares": {k: round(v, 3) for k, v in e.shares.items()},
                "wishes_total": e.wishes_total,
                "wishes_honoured": e.wishes_honoured,
                "text": e.text,
            }
            for e in solution.explanations.values()
        },
        "figures": solution.figures,
    }
