"""Parse the policy files and validate them whole: a bad file stops the worker with its name and
problem. Pure: the files come in as bytes by name (broker.adapters.policy_files reads the
policy directory)."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Mapping
from typing import Any, TypeVar

import cel
import yaml
from pydantic import BaseModel, ValidationError

from broker.core.errors import PolicyError
from broker.core.notices import NOTICE_MODELS, NOTICE_SENDERS
from broker.core.paths import schema_kinds, schema_paths
from broker.core.policy.duties import Duty, check_duties
from broker.core.policy.invariants import known_paths
from broker.core.policy.model import (
    Effect,
    ImposedConfidentiality,
    Invariant,
    LegalBasis,
    NeverLeaves,
    NeverReceives,
    OpenQuestion,
    PolicySet,
    Recipient,
    Requirement,
    Rule,
    Subjects,
    said,
)
from broker.core.policy.view import View, union
from broker.core.redaction import APPLIES_TO

FILES = {
    "legal_bases": "legal-bases.yaml",
    "recipients": "recipients.yaml",
    "rules": "rules.yaml",
    "open_questions": "open-questions.yaml",
    "invariants": "invariants.yaml",
    "duties": "duties.yaml",
}
M = TypeVar("M", bound=BaseModel)


def counts_for_version(rel: str) -> bool:
    """Whether a file (its path relative to the policy directory) is part of the version: test
    cases and notes do not change a decision, so they do not change the version."""
    return not (rel.startswith((".", "tests/")) or "__pycache__" in rel or rel.endswith(".md"))


def policy_version(files: Mapping[str, bytes]) -> str:
    """Content hash of every file in the policy set (relative path -> bytes), so a decision
    names the exact policies. Sorted by path components, as the directory's paths sort."""
    digest = hashlib.sha256()
    for rel in sorted(filter(counts_for_version, files), key=lambda r: r.split("/")):
        digest.update(rel.encode() + b"\0" + files[rel] + b"\0")
    return "sha256:" + digest.hexdigest()


def file_label(directory: str, name: str) -> str:
    """How an error names a policy file: ``str(Path(directory) / name)`` for a directory
    given as ``str(Path(...))``, without pathlib."""
    if directory in ("", "."):
        return name
    return directory + ("" if directory.endswith("/") else "/") + name


def _text(data: bytes) -> str:
    """UTF-8 with universal newlines, as a file opened in text mode reads."""
    return data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")


def _read(files: Mapping[str, bytes], where: str, name: str, key: str) -> list[Any]:
    data = files.get(name)
    if data is None:
        raise PolicyError(where, ["file is missing"])
    return yaml_list(data, where, key)


def yaml_list(data: bytes, where: str, key: str) -> list[Any]:
    """The list under top-level ``key`` of a policy file's YAML, or PolicyError naming the file
    and what is wrong: not UTF-8, not YAML, nested too deeply, or no such list."""
    try:
        doc = yaml.safe_load(_text(data))
    except UnicodeDecodeError:
        raise PolicyError(where, ["not UTF-8 text"]) from None
    except yaml.YAMLError as exc:
        raise PolicyError(where, [f"not valid YAML: {exc}"]) from None
    except RecursionError:  # the parser recurses once per level of nesting
        raise PolicyError(where, ["not valid YAML: nested too deeply"]) from None
    if not isinstance(doc, Mapping) or not isinstance(doc.get(key), list):
        raise PolicyError(where, [f"expected a top-level '{key}:' list"])
    return list(doc[key])


def _entries(
    files: Mapping[str, bytes], directory: str, key: str, model: type[M]
) -> tuple[str, list[M]]:
    """The entries of one policy file under its top-level ``key``, and how errors name it."""
    where = file_label(directory, FILES[key])
    return where, _parse(where, _read(files, where, FILES[key], key), model)


def _parse(where: str, items: list[Any], model: type[M]) -> list[M]:
    parsed, problems = [], []
    for i, item in enumerate(items):
        label = item.get("id", f"#{i + 1}") if isinstance(item, Mapping) else f"#{i + 1}"
        try:
            parsed.append(model.model_validate(item))
        except ValidationError as exc:
            problems += [
                f"{label}: {'.'.join(map(str, e['loc'])) or '(entry)'}: {said(e)}"
                for e in exc.errors()
            ]
    ids = [str(getattr(p, "id", "")) for p in parsed]
    problems += [f"{i}: duplicate id" for i in sorted({i for i in ids if ids.count(i) > 1})]
    if problems:
        raise PolicyError(where, problems)
    return parsed


def _check_successors(where: str, bases: Mapping[str, LegalBasis]) -> None:
    """A successor is a known basis, succession never loops back, and the old basis ends the
    day its successor starts (no gap, no overlap) once that day is set."""
    problems: list[str] = []
    for basis in bases.values():
        if basis.successor is None:
            continue
        successor = bases.get(basis.successor)
        if successor is None:
            problems.append(f"{basis.id}: successor: unknown legal basis '{basis.successor}'")
            continue
        if successor.valid_from is not None and basis.valid_to != successor.valid_from:
            problems.append(
                f"{basis.id}: valid_to: must be {successor.valid_from}, the valid_from of its "
                f"successor {successor.id}"
            )
        chain: list[str] = [basis.id]
        at: LegalBasis | None = successor
        while at is not None and at.id not in chain:
            chain.append(at.id)
            at = bases.get(at.successor) if at.successor else None
        if at is not None and at.id == basis.id:
            problems.append(f"{basis.id}: successor: a loop ({' -> '.join([*chain, at.id])})")
    if problems:
        raise PolicyError(where, problems)


def _check_discretionary(where: str, bases: Mapping[str, LegalBasis], rules: list[Rule]) -> None:
    """A discretionary basis requires the controller's written decision (prl § 27 fifth
    paragraph, prf §§ 11-2 to 11-4): refuse one that does not, naming the rules citing it."""
    problems = []
    for basis in bases.values():
        if basis.discretionary and Requirement.controller_decision not in basis.requires:
            citing = [r.id for r in rules if r.legal_basis == basis.id] or ["none"]
            problems.append(
                f"{basis.id}: requires: a discretionary basis must require controller-decision "
                f"(rules citing it: {', '.join(citing)})"
            )
    if problems:
        raise PolicyError(where, problems)


def _settings(
    files: Mapping[str, bytes], where: str, bases: Mapping[str, LegalBasis]
) -> tuple[Subjects, ImposedConfidentiality | None]:
    """rules.yaml's settings beside its rules: whom notices may be about (``subjects``), and
    what a copy says when the police impose confidentiality (``imposed_confidentiality``)."""
    doc = yaml.safe_load(_text(files[FILES["rules"]]))  # parsed once already: valid YAML
    problems: list[str] = []
    subjects, imposed = Subjects(), None
    try:
        subjects = Subjects.model_validate(doc.get("subjects") or {})
        if doc.get("imposed_confidentiality") is not None:
            imposed = ImposedConfidentiality.model_validate(doc["imposed_confidentiality"])
    except ValidationError as exc:
        problems += [f"{'.'.join(map(str, e['loc']))}: {said(e)}" for e in exc.errors()]
    types = {t for t, _ in NOTICE_MODELS}
    problems += [
        f"subjects: adults_decided_for: unknown notice type '{t}'"
        for t in subjects.adults_decided_for
        if t not in types
    ]
    if imposed is not None and imposed.legal_basis not in bases:
        problems.append(
            f"imposed_confidentiality: legal_basis: unknown legal basis '{imposed.legal_basis}'"
        )
    if problems:
        raise PolicyError(where, problems)
    return subjects, imposed


def _check_questions(
    where: str, questions: list[OpenQuestion], bases: Mapping[str, LegalBasis], rules: list[Rule]
) -> None:
    """Every basis and rule an open question names exists."""
    rule_ids = {r.id for r in rules}
    problems = [
        f"{q.id}: bases: unknown legal basis '{b}'"
        for q in questions
        for b in q.bases
        if b not in bases
    ]
    problems += [
        f"{q.id}: rules: unknown rule '{r}'"
        for q in questions
        for r in q.rules
        if r not in rule_ids
    ]
    if problems:
        raise PolicyError(where, problems)


def _check_covers(where: str, bases: list[LegalBasis]) -> None:
    """Every path a basis covers exists: a typo would make the basis cover nothing."""
    known = known_paths()
    problems = [
        f"{b.id}: covers: '{path}' is not a field of any notice type"
        for b in bases
        for path in b.covers or []
        if path not in known
    ]
    if problems:
        raise PolicyError(where, problems)


def _check_invariants(
    where: str, invariants: list[Invariant], recipients: Mapping[str, Recipient]
) -> None:
    """Every recipient and field path an invariant names exists: a typo would hold vacuously."""
    known = known_paths()
    problems: list[str] = []
    for inv in invariants:
        form = inv.check
        if isinstance(form, NeverReceives) and form.recipient not in recipients:
            problems.append(f"{inv.id}: check.recipient: unknown recipient '{form.recipient}'")
        fields = form.fields if isinstance(form, NeverReceives | NeverLeaves) else []
        problems += [
            f"{inv.id}: check.fields: '{f}' is not a field of any notice type"
            for f in fields
            if f not in known
        ]
    if problems:
        raise PolicyError(where, problems)


def _check_rules(
    where: str,
    rules: list[Rule],
    bases: Mapping[str, LegalBasis],
    recipients: Mapping[str, Recipient],
) -> dict[str, Any]:
    problems: list[str] = []
    programs: dict[str, Any] = {}
    notice_types = {t for t, _ in NOTICE_MODELS}
    for rule in rules:
        basis = bases.get(rule.legal_basis)
        if basis is None:
            problems.append(f"{rule.id}: legal_basis: unknown legal basis '{rule.legal_basis}'")
        elif rule.effect is Effect.allow and not basis.permits_disclosure:
            problems.append(
                f"{rule.id}: legal_basis: '{basis.id}' ({basis.statute} {basis.citation}) "
                "does not permit disclosure (permits_disclosure: false): an allow rule cannot "
                "release under it"
            )
        if rule.recipient not in recipients:
            problems.append(f"{rule.id}: recipient: unknown recipient '{rule.recipient}'")
        if rule.notice_type not in notice_types:
            problems.append(f"{rule.id}: notice_type: unknown notice type '{rule.notice_type}'")
        else:
            known: frozenset[str] = frozenset().union(
                *(schema_paths(m) for (t, _), m in NOTICE_MODELS.items() if t == rule.notice_type)
            )
            problems += [
                f"{rule.id}: fields: '{f}' is not a field of {rule.notice_type} notices"
                for f in rule.fields
                if f not in known
            ]
            problems += _operator_problems(rule)
            if NOTICE_SENDERS.get(rule.notice_type) != rule.sender:
                problems.append(
                    f"{rule.id}: sender: {rule.notice_type} notices are sent by "
                    f"'{NOTICE_SENDERS.get(rule.notice_type)}', not '{rule.sender}'"
                )
        try:
            programs[rule.id] = cel.compile(rule.condition)
        except ValueError as exc:
            first = str(exc).splitlines()[0]
            problems.append(f"{rule.id}: condition: not a valid CEL expression ({first})")
    if problems:
        raise PolicyError(where, problems)
    return programs


def _operator_problems(rule: Rule) -> list[str]:
    """An operator must suit the value it transforms: no age band of a name."""
    kinds: dict[str, str] = {}
    for (t, _), model in NOTICE_MODELS.items():
        if t == rule.notice_type:
            kinds.update(schema_kinds(model))
    problems = []
    for path, op in rule.fields.items():
        allowed = APPLIES_TO.get(op.kind_key)
        if allowed is None or path not in kinds:
            continue
        kind = kinds[path]
        if kind == "array":
            kind = kinds.get(path + "[]", kind)
        if kind not in allowed:
            problems.append(
                f"{rule.id}: fields: '{path}': {op} applies to {'/'.join(sorted(allowed))} "
                f"values, not {kind}"
            )
    return problems


def _views(rules: list[Rule]) -> dict[str, View | None]:
    by_type: dict[str, list[str]] = defaultdict(list)
    for rule in rules:
        by_type[rule.notice_type].append(rule.condition)
    return {t: union(conditions) for t, conditions in by_type.items()}


def parse_policy(files: Mapping[str, bytes], directory: str) -> PolicySet:
    """Validate legal bases, recipients, rules, open questions, invariants and duties from the
    policy files (path relative to the policy directory -> bytes; ``directory`` names it in
    errors and in the PolicySet); raise PolicyError on any problem. The version covers every
    file that counts_for_version."""
    bases_file, bases = _entries(files, directory, "legal_bases", LegalBasis)
    _, recipients = _entries(files, directory, "recipients", Recipient)
    rules_file, rules = _entries(files, directory, "rules", Rule)
    questions_file, questions = _entries(files, directory, "open_questions", OpenQuestion)
    invariants_file, invariants = _entries(files, directory, "invariants", Invariant)
    duties_file, duties = _entries(files, directory, "duties", Duty)
    bases_by_id = {b.id: b for b in bases}
    recipients_by_id = {r.id: r for r in recipients}
    _check_successors(bases_file, bases_by_id)
    _check_discretionary(bases_file, bases_by_id, rules)
    _check_covers(bases_file, bases)
    programs = _check_rules(rules_file, rules, bases_by_id, recipients_by_id)
    subjects, imposed = _settings(files, rules_file, bases_by_id)
    _check_questions(questions_file, questions, bases_by_id, rules)
    _check_invariants(invariants_file, invariants, recipients_by_id)
    check_duties(duties_file, duties, bases_by_id, recipients_by_id)
    index: dict[tuple[str, str, str], list[Rule]] = defaultdict(list)
    for rule in rules:
        index[(rule.sender, rule.notice_type, rule.recipient)].append(rule)
    return PolicySet(
        version=policy_version(files),
        legal_bases=bases_by_id,
        recipients=recipients_by_id,
        rules=tuple(rules),
        open_questions=tuple(questions),
        invariants=tuple(invariants),
        duties=tuple(duties),
        programs=programs,
        index={k: tuple(v) for k, v in index.items()},
        views=_views(rules),
        directory=directory,
        subjects=subjects,
        imposed_confidentiality=imposed,
    )
