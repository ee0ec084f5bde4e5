"""Load policies/ and validate it whole: a bad file stops the worker with its name and problem."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import cel
import yaml
from pydantic import BaseModel, ValidationError

from broker.core.errors import PolicyError
from broker.core.notices import NOTICE_MODELS, NOTICE_SENDERS
from broker.core.paths import schema_kinds, schema_paths
from broker.core.policy.model import Effect, LegalBasis, PolicySet, Recipient, Rule
from broker.core.policy.view import View, union
from broker.core.redaction import APPLIES_TO

FILES = {"legal_bases": "legal-bases.yaml", "recipients": "recipients.yaml", "rules": "rules.yaml"}
M = TypeVar("M", bound=BaseModel)


def policy_version(directory: Path) -> str:
    """Content hash of every file in the policy set, so a decision names the exact policies."""
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        rel = path.relative_to(directory).as_posix()
        # test cases and notes do not change a decision, so they do not change the version
        if rel.startswith((".", "tests/")) or "__pycache__" in rel or rel.endswith(".md"):
            continue
        digest.update(rel.encode() + b"\0" + path.read_bytes() + b"\0")
    return "sha256:" + digest.hexdigest()


def _read(path: Path, key: str) -> list[Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PolicyError(str(path), ["file is missing"]) from None
    except yaml.YAMLError as exc:
        raise PolicyError(str(path), [f"not valid YAML: {exc}"]) from None
    if not isinstance(data, Mapping) or not isinstance(data.get(key), list):
        raise PolicyError(str(path), [f"expected a top-level '{key}:' list"])
    return list(data[key])


def _parse(path: Path, items: list[Any], model: type[M]) -> list[M]:
    parsed, problems = [], []
    for i, item in enumerate(items):
        label = item.get("id", f"#{i + 1}") if isinstance(item, Mapping) else f"#{i + 1}"
        try:
            parsed.append(model.model_validate(item))
        except ValidationError as exc:
            problems += [
                f"{label}: {'.'.join(map(str, e['loc'])) or '(entry)'}: {e['msg']}"
                for e in exc.errors()
            ]
    ids = [str(getattr(p, "id", "")) for p in parsed]
    problems += [f"{i}: duplicate id" for i in sorted({i for i in ids if ids.count(i) > 1})]
    if problems:
        raise PolicyError(str(path), problems)
    return parsed


def _check_rules(
    path: Path,
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
                f"{rule.id}: legal_basis: '{basis.id}' ({basis.statute} {basis.section}) does not "
                "permit disclosure (permits_disclosure: false): an allow rule cannot release "
                "under it"
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
        raise PolicyError(str(path), problems)
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


def load_policy(directory: Path | str) -> PolicySet:
    """Read and validate legal bases, recipients and rules; raise PolicyError on any problem."""
    directory = Path(directory)
    if not directory.is_dir():
        raise PolicyError(str(directory), ["policy directory does not exist"])
    bases_path, recipients_path, rules_path = (directory / f for f in FILES.values())
    bases = _parse(bases_path, _read(bases_path, "legal_bases"), LegalBasis)
    recipients = _parse(recipients_path, _read(recipients_path, "recipients"), Recipient)
    rules = _parse(rules_path, _read(rules_path, "rules"), Rule)
    bases_by_id = {b.id: b for b in bases}
    recipients_by_id = {r.id: r for r in recipients}
    programs = _check_rules(rules_path, rules, bases_by_id, recipients_by_id)
    index: dict[tuple[str, str, str], list[Rule]] = defaultdict(list)
    for rule in rules:
        index[(rule.sender, rule.notice_type, rule.recipient)].append(rule)
    return PolicySet(
        version=policy_version(directory),
        legal_bases=bases_by_id,
        recipients=recipients_by_id,
        rules=tuple(rules),
        programs=programs,
        index={k: tuple(v) for k, v in index.items()},
        views=_views(rules),
        directory=str(directory),
    )
