"""The message catalogues are in step with the code: every string the code marks for
translation is in both, bokmål has none empty or fuzzy, and placeholders match."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message, TranslationError
from babel.messages.checkers import python_format
from babel.messages.extract import extract_from_dir

from broker.adapters.locale import load_translator, read_catalog
from broker.core.i18n import LANGUAGES

PACKAGE = Path(__file__).resolve().parents[3] / "broker"


def _used() -> set[str]:
    """The msgids of every gettext, ngettext and N_ call under broker/ (Babel's extractor)."""
    found = extract_from_dir(str(PACKAGE), method_map=[("**.py", "python")])
    return {m[0] if isinstance(m, tuple) else m for _, _, m, _, _ in found}


def _ids(lang: str) -> set[str]:
    return {str(m.id[0] if isinstance(m.id, tuple) else m.id) for m in read_catalog(lang) if m.id}


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_string_the_code_uses_is_in_the_catalogue(lang: str) -> None:
    assert _used() - _ids(lang) == set()


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_catalogue_holds_no_string_the_code_no_longer_uses(lang: str) -> None:
    assert _ids(lang) - _used() == set()


def test_bokmal_has_no_empty_or_fuzzy_entry() -> None:
    bad = [
        m.id
        for m in read_catalog("nb")
        if m.id and (m.fuzzy or not (all(m.string) if isinstance(m.string, tuple) else m.string))
    ]
    assert bad == []


@pytest.mark.parametrize("lang", LANGUAGES)
def test_translations_keep_the_placeholders(lang: str) -> None:
    """A translation naming another placeholder would raise KeyError on screen."""
    catalog = read_catalog(lang)
    problems = []
    for m in catalog:
        if m.id and m.python_format:
            try:
                python_format(catalog, m)
            except TranslationError as exc:
                problems.append(f"{m.id!r}: {exc}")
    assert problems == []


def test_the_checker_sees_a_placeholder_that_does_not_match() -> None:
    catalog = Catalog(locale="nb")
    wrong = Message("Hello %(name)s", "Hei %(navn)s", flags=["python-format"])
    with pytest.raises(TranslationError):
        python_format(catalog, wrong)


def test_the_shell_gives_a_translator_in_oslo_time() -> None:
    t = load_translator("nb")
    assert (t.lang, str(t.zone)) == ("nb", "Europe/Oslo")
    assert t.gettext("## Questions") == "## Spørsmål"
    assert load_translator("en").gettext("## Questions") == "## Questions"


def _gettext_in_fstrings(tree: ast.AST) -> list[int]:
    """Lines where gettext or ngettext is called inside an f-string: Babel's extractor does not
    look there, so such a message would never reach the catalogues (and show in English)."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            for inner in ast.walk(node):
                if (
                    isinstance(inner, ast.Call)
                    and isinstance(inner.func, ast.Attribute | ast.Name)
                    and (getattr(inner.func, "attr", None) or getattr(inner.func, "id", None))
                    in ("gettext", "ngettext", "N_")
                ):
                    lines.append(inner.lineno)
    return lines


def test_no_message_is_marked_inside_an_f_string() -> None:
    found = {
        str(path.relative_to(PACKAGE)): lines
        for path in sorted(PACKAGE.rglob("*.py"))
        if (lines := _gettext_in_fstrings(ast.parse(path.read_text(encoding="utf-8"))))
    }
    assert found == {}


def test_the_f_string_check_finds_a_message_there() -> None:
    assert _gettext_in_fstrings(ast.parse("x = f\"[red]{t.gettext('no')}[/]\"")) == [1]
    assert _gettext_in_fstrings(ast.parse('x = t.gettext("no")')) == []
