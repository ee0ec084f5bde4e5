"""Synthetic notices for simulation, linting and benchmarks: invented people, synthetic
national id numbers (month + 80), every notice type, and the variety the rules test.

Produced as JSON documents (what ``model_dump(mode="json", exclude_none=True)`` gives), fast
enough to generate a million; tests validate samples against the models.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import date
from typing import Any

from broker.core import national_id
from broker.core.notices import (
    AtRisk,
    ChildRole,
    ConcernCategory,
    FeedbackStatus,
    IncidentCategory,
    RiskLevel,
    Service,
    ThreatenedRole,
)

_FIRST = ("Emil", "Nora", "Jonas", "Sara", "Ali", "Ida", "Mohammed", "Emma", "Lukas", "Aisha")
_LAST = ("Nilsen", "Hansen", "Berg", "Khan", "Larsen", "Haug", "Ahmed", "Dahl", "Lie", "Bakke")
_DISTRICTS = ("Grorud", "Stovner", "Alna", "Frogner", "Gamle Oslo", "Søndre Nordstrand")
_STREETS = ("Trondheimsveien", "Kirkeveien", "Tvetenveien", "Lindebergveien", "Stovnerveien")
_INDICATORS = ("social-media-recruitment", "paid-violence", "weapon-access", "threat-against-staff")
_MEASURES = ("child welfare investigation", "safety meeting", "SLT follow-up", "home visit")
_LEVELS = tuple(v.value for v in RiskLevel)
_AT_RISK = tuple(v.value for v in AtRisk)
_CATEGORIES = tuple(v.value for v in IncidentCategory)
_ROLES = tuple(v.value for v in ChildRole)
_CONCERNS = tuple(v.value for v in ConcernCategory)
_STATUSES = tuple(v.value for v in FeedbackStatus)
_SERVICES = tuple(v.value for v in Service)
_THREATENED = tuple(v.value for v in ThreatenedRole)
_GROUNDS = ("a", "b", "c", "d")
_TYPES = ("incident", "risk", "concern-report", "concern-feedback")
_WEIGHTS = (40, 35, 15, 10)


def _children(rng: random.Random, n: int) -> list[tuple[str, str]]:
    """(national id, birth date) pairs for children aged about 6 to 19 in 2026."""
    out: list[tuple[str, str]] = []
    while len(out) < n:
        born = date(rng.randint(2007, 2020), rng.randint(1, 12), rng.randint(1, 28))
        number = national_id.synthetic(born, rng.randint(500, 949))
        if number:
            out.append((number, born.isoformat()))
    return out


class Generator:
    """Deterministic for a seed: the same seed gives the same notices."""

    def __init__(self, seed: int = 0, children: int = 2000) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - invented test data, not secrets
        self.children = _children(self.rng, children)
        self.schools = [(f"osloskolen-{9000 + i}", f"Skole nr. {i}") for i in range(40)]

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _child(self, with_school: bool) -> dict[str, Any]:
        rng = self.rng
        number, born = rng.choice(self.children)
        child: dict[str, Any] = {
            "national_id": number,
            "name": f"{rng.choice(_FIRST)} {rng.choice(_LAST)}",
            "birth_date": born,
            "district": rng.choice(_DISTRICTS),
        }
        if rng.random() < 0.7:
            child["address"] = (
                f"{rng.choice(_STREETS)} {rng.randint(1, 99)}, 0{rng.randint(150, 999)} Oslo"
            )
        if with_school:
            school_id, name = rng.choice(self.schools)
            child["school"] = {"school_id": school_id, "name": name}
        return child

    def _guardians(self) -> list[dict[str, Any]]:
        rng = self.rng
        out = []
        for relation in rng.sample(("mother", "father", "foster parent"), rng.randint(0, 2)):
            g: dict[str, Any] = {
                "name": f"{rng.choice(_FIRST)} {rng.choice(_LAST)}",
                "relation": relation,
            }
            if rng.random() < 0.8:
                g["phone"] = self._phone()
            out.append(g)
        return out

    def _risk(self) -> dict[str, Any]:
        rng = self.rng
        # a risk to the child alone, often: what a safety plan for the school is about
        at_risk = ["child"] if rng.random() < 0.3 else rng.sample(_AT_RISK, rng.randint(1, 3))
        return {
            "level": rng.choice(_LEVELS),
            "at_risk": sorted(at_risk, key=_AT_RISK.index),
            "indicators": rng.sample(_INDICATORS, rng.randint(0, 3)),
            "summary": "Synthetic risk summary.",
            "recommended_measures": rng.sample(_MEASURES, rng.randint(0, 3)),
            "measures_for": sorted(rng.sample(_SERVICES, rng.randint(0, 2)), key=_SERVICES.index),
            "valid_until": f"2027-0{rng.randint(1, 9)}-15",
            "threatened": [
                {
                    "name": f"{rng.choice(_FIRST)} {rng.choice(_LAST)}",
                    "role": rng.choice(_THREATENED),
                    "threatened_by": "the child",
                }
                for _ in range(rng.random() < 0.3)
            ],
            "co_involved": [
                {"name": f"{rng.choice(_FIRST)} {rng.choice(_LAST)}", "role": "recruiter"}
                for _ in range(rng.random() < 0.3)
            ],
            **({"family_risk": "Synthetic family risk."} if rng.random() < 0.3 else {}),
        }

    def _phone(self) -> str:
        rng = self.rng
        return f"+47 9{rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(100, 999)}"

    def _common(self, notice_type: str, unit: str) -> dict[str, Any]:
        rng = self.rng
        return {
            "notice_id": self._uuid(),
            "notice_type": notice_type,
            "issued_at": f"2026-11-{rng.randint(10, 28)}T{rng.randint(10, 23)}:"
            f"{rng.randint(10, 59)}:00+01:00",
            "issuer": {"unit_id": unit, "unit_name": f"Synthetic {unit}"},
            # a contact may have no phone (an e-mail only)
            "contact": {
                "name": f"{rng.choice(_FIRST)} {rng.choice(_LAST)}",
                "role": "contact",
                **(
                    {"phone": self._phone()}
                    if rng.random() < 0.9
                    else {"email": "kontakt@politiet.example"}
                ),
            },
        }

    def _police(self, notice_type: str) -> dict[str, Any]:
        rng = self.rng
        doc = self._common(notice_type, "oslo-pd-ost")
        doc["child"] = self._child(rng.random() < 0.85)
        doc["guardians"] = self._guardians()
        doc["purpose"] = "Synthetic purpose."
        if rng.random() < 0.8:
            doc["necessity"] = "Synthetic necessity assessment."
        if rng.random() < 0.2:
            doc["consent"] = {
                "reference": f"SAK-{rng.randint(1, 9999)}",
                "given_by": "guardian",
                "given_at": "2026-11-01T10:00:00Z",
            }
        if rng.random() < 0.75:
            doc["controller_decision"] = _decision(rng.random() < 0.05)
        if rng.random() < 0.5:
            doc["intelligence"] = {"sources": ["synthetic source"]}
        doc["danger_to_life_or_health"] = rng.random() < 0.08
        doc["imminent_offence"] = rng.random() < 0.3
        if rng.random() < 0.05:
            doc["confidentiality_imposed"] = {"reason": "Synthetic reason."}
        return doc

    def incident(self) -> dict[str, Any]:
        rng = self.rng
        doc = self._police("incident")
        doc["incident"] = {
            "occurred_at": f"2026-11-0{rng.randint(1, 9)}T21:40:00+01:00",
            "location": "Synthetic place",
            "category": rng.choice(_CATEGORIES),
            "child_role": rng.choice(_ROLES),
            "summary": "Synthetic incident summary.",
            "co_involved": [
                {
                    "name": f"{rng.choice(_FIRST)} {rng.choice(_LAST)}",
                    "role": "co-suspect",
                    "age": rng.randint(12, 30),
                }
                for _ in range(rng.randint(0, 2))
            ],
        }
        if doc["incident"]["child_role"] == "suspect" and rng.random() < 0.5:
            doc["incident"]["investigation_opened"] = "2026-11-09"
        if rng.random() < 0.6:
            doc["risk"] = self._risk()
        return doc

    def risk(self) -> dict[str, Any]:
        doc = self._police("risk")
        doc["risk"] = self._risk()
        return doc

    def concern_report(self) -> dict[str, Any]:
        rng = self.rng
        doc = self._common("concern-report", "osloskolen-9001")
        doc["child"] = self._child(True)
        doc["guardians"] = self._guardians()
        doc["purpose"] = "Synthetic concern."
        doc["concern"] = {
            "observed_at": "2026-11-05",
            "categories": rng.sample(_CONCERNS, rng.randint(1, 3)),
            "description": "Synthetic description of what was observed.",
            "actions_taken": ["talked with the pupil"],
            "guardians_informed": rng.random() < 0.5,
            "duty_grounds": sorted(rng.sample(_GROUNDS, rng.randint(0, 2))),
        }
        if rng.random() < 0.3:
            doc["consent"] = {
                "reference": f"SKOLE-{rng.randint(1, 9999)}",
                "given_by": "guardian",
                "given_at": "2026-11-01T10:00:00Z",
            }
        doc["danger_to_life_or_health"] = rng.random() < 0.2
        return doc

    def concern_feedback(self) -> dict[str, Any]:
        rng = self.rng
        doc = self._common("concern-feedback", "bydel-grorud-barnevern")
        number, _ = rng.choice(self.children)
        doc["child"] = {"national_id": number}
        doc["concern_ref"] = self._uuid()
        doc["status"] = rng.choice(_STATUSES)
        doc["status_since"] = "2026-11-12"
        if rng.random() < 0.5:
            doc["case_notes"] = "Synthetic case notes: never for the reporter."
        doc["danger_to_life_or_health"] = False
        return doc

    def notice(self) -> dict[str, Any]:
        """One notice, built field by field (slow: ~35 µs; see :class:`FastGenerator`)."""
        kind = self.rng.choices(_TYPES, _WEIGHTS)[0]
        if kind == "incident":
            return self.incident()
        if kind == "risk":
            return self.risk()
        if kind == "concern-report":
            return self.concern_report()
        return self.concern_feedback()


def _decision(late: bool) -> dict[str, Any]:
    """A controller decision: before every synthetic notice's issue time, or (``late``)
    after it."""
    return {
        "decided_by": "synthetic-official",
        "role": "delegated: seksjonsleder",
        "decided_at": "2026-12-01T09:00:00+01:00" if late else "2026-11-01T09:00:00+01:00",
        "reference": "VEDTAK-SYNTHETIC",
    }


class FastGenerator:
    """A million notices a minute: each notice is assembled from pools of parts invented by
    :class:`Generator` (children, guardians, risks, incidents, ...), with a fresh notice id.
    Parts are shared between notices: treat the documents as read-only."""

    def __init__(self, seed: int = 0, pool: int = 1000, pool_seed: int | None = None) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - invented test data, not secrets
        base = Generator(seed if pool_seed is None else pool_seed)
        self.docs = {
            "incident": [base.incident() for _ in range(pool)],
            "risk": [base.risk() for _ in range(pool)],
            "concern-report": [base.concern_report() for _ in range(pool // 2)],
            "concern-feedback": [base.concern_feedback() for _ in range(pool // 4)],
        }
        parts = ("child", "guardians", "risk", "incident", "contact", "issued_at", "necessity")
        self.parts = {
            (t, k): [d[k] for d in docs if k in d] for t, docs in self.docs.items() for k in parts
        }
        self.kinds = [t for t, w in zip(_TYPES, _WEIGHTS, strict=True) for _ in range(w)]

    def notice(self) -> dict[str, Any]:
        rnd = self.rng.random
        kind = self.kinds[int(rnd() * len(self.kinds))]
        docs = self.docs[kind]
        doc = dict(docs[int(rnd() * len(docs))])
        # recombine the parts that rules test, so the variety is the pools' product
        for key in ("child", "risk", "incident", "issued_at", "guardians"):
            if key in doc:
                options = self.parts[(kind, key)]
                doc[key] = options[int(rnd() * len(options))]
        bits = self.rng.getrandbits(128)
        doc["notice_id"] = (
            f"{bits:032x}"[:8]
            + "-"
            + f"{bits:032x}"[8:12]
            + "-4"
            + (f"{bits:032x}"[13:16] + "-a" + f"{bits:032x}"[17:20] + "-" + f"{bits:032x}"[20:])
        )
        if kind in ("incident", "risk"):
            if rnd() < 0.2:
                doc.pop("necessity", None)
            if rnd() < 0.25:  # as often as Generator leaves it out
                doc.pop("controller_decision", None)
            doc["danger_to_life_or_health"] = rnd() < 0.05
        return doc


def generate(n: int, seed: int = 0, *, fast: bool = False) -> Iterator[dict[str, Any]]:
    """``n`` synthetic notices as JSON documents (``fast``: assembled from pools of parts)."""
    gen: Generator | FastGenerator = FastGenerator(seed) if fast else Generator(seed)
    for _ in range(n):
        yield gen.notice()
