"""Enumerations shared by models, forms and templates, with their French labels."""

from __future__ import annotations

import enum


class LabelledEnum(enum.StrEnum):
    """A string enum whose members carry a French label for the UI."""

    label: str

    def __new__(cls, value: str, label: str) -> LabelledEnum:
        member = str.__new__(cls, value)
        member._value_ = value
        member.label = label
        return member

    @classmethod
    def choices(cls) -> list[tuple[str, str]]:
        return [(m.value, m.label) for m in cls]


class Role(LabelledEnum):
    ADMIN = "admin", "Administrateur·rice"
    COORDINATOR = "coordinator", "Coordonnateur·rice"
    GP = "gp", "Médecin généraliste"
    REGULATOR = "regulator", "Régulateur·rice"
    PHARMACIST = "pharmacist", "Pharmacien·ne"


class SiteKind(LabelledEnum):
    CABINET = "cabinet", "Cabinet médical"
    MSP = "msp", "Maison de santé pluriprofessionnelle"
    HEALTH_CENTRE = "health_centre", "Centre de santé"
    MMG = "mmg", "Maison médicale de garde"


class Profession(LabelledEnum):
    GP = "gp", "Médecin généraliste"
    PHARMACIST = "pharmacist", "Pharmacien·ne"
    NURSE = "nurse", "Infirmier·ère"
    PHYSIOTHERAPIST = "physiotherapist", "Masseur-kinésithérapeute"
    MIDWIFE = "midwife", "Sage-femme"
    OTHER = "other", "Autre profession de santé"
