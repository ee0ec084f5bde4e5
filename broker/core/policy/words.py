"""A rule's CEL condition in words, for the lawyers' report.

Lawyers review the rules without reading CEL, so the report says "barnet er under 18 og
risikonivå er en av (high, critical)" (in English "the child is under 18 and risk level is one
of (high, critical)") where rules.yaml says ``child_age < 18 && notice.risk.level in
['high', 'critical']``. This reads the subset of CEL the policies use (``&&``, ``||``, ``!``,
comparisons, ``in``, ``has()``, ``size()``, field paths, string, number, boolean and list
literals, parentheses). Anything else returns None and the report shows the expression as
written: a condition is never paraphrased into something it does not say. Fields are named by
their labels (broker.core.labels), the sentences come from the message catalogue; values are
the codes the notice carries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from broker.core.i18n import Translator
from broker.core.labels import field_labels

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
    | (?P<num>\d+(?:\.\d+)?)
    | (?P<op>&&|\|\||==|!=|<=|>=|<|>|!|\(|\)|\[|\]|,|\.)
    | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE,
)


class _Unreadable(Exception):
    """A construct outside the subset: the caller shows the CEL as written."""


@dataclass(frozen=True)
class _Tok:
    kind: str  # str, num, op, name
    text: str


def _tokens(source: str) -> list[_Tok]:
    out: list[_Tok] = []
    pos = 0
    while pos < len(source):
        if source[pos:].strip() == "":
            break
        m = _TOKEN.match(source, pos)
        if m is None or m.end() == pos:
            raise _Unreadable(source[pos:])
        kind = m.lastgroup
        assert kind is not None
        out.append(_Tok(kind, m.group(kind)))
        pos = m.end()
    return out


@dataclass(frozen=True)
class Path:
    name: str  # "notice.risk.level", "child_age"


@dataclass(frozen=True)
class Lit:
    value: str | int | float | bool


@dataclass(frozen=True)
class ListLit:
    values: tuple[str | int | float | bool, ...]


@dataclass(frozen=True)
class Call:
    function: str  # has, size
    path: Path


@dataclass(frozen=True)
class Not:
    operand: Node


@dataclass(frozen=True)
class Binary:
    op: str  # "and", "or", "in", or a comparison
    left: Node
    right: Node


@dataclass(frozen=True)
class Macro:
    """``list.exists(p, body)`` / ``list.all(p, body)``; body's paths are relative to p."""

    function: str  # exists, all
    path: Path
    body: Node


Node = Path | Lit | ListLit | Call | Not | Binary | Macro
_MACROS = ("exists", "all")

_COMPARISONS = ("==", "!=", "<", "<=", ">", ">=")


class _Parser:
    def __init__(self, toks: list[_Tok]) -> None:
        self.toks = toks
        self.i = 0

    def peek(self) -> str | None:
        return self.toks[self.i].text if self.i < len(self.toks) else None

    def take(self, text: str | None = None) -> _Tok:
        if self.i >= len(self.toks) or (text is not None and self.toks[self.i].text != text):
            raise _Unreadable(text or "end")
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def expr(self) -> Node:
        node = self.conj()
        while self.peek() == "||":
            self.take()
            node = Binary("or", node, self.conj())
        return node

    def conj(self) -> Node:
        node = self.unary()
        while self.peek() == "&&":
            self.take()
            node = Binary("and", node, self.unary())
        return node

    def unary(self) -> Node:
        if self.peek() == "!":
            self.take()
            return Not(self.unary())
        left = self.operand()
        op = self.peek()
        if op in (*_COMPARISONS, "in"):
            self.take()
            return Binary(op, left, self.operand())
        return left

    def operand(self) -> Node:  # noqa: PLR0911 - one return per kind of operand
        tok = self.take()
        if tok.text == "(":
            node = self.expr()
            self.take(")")
            return node
        if tok.text == "[":
            return self.list_literal()
        if tok.kind == "str":
            return Lit(tok.text[1:-1])
        if tok.kind == "num":
            return Lit(float(tok.text) if "." in tok.text else int(tok.text))
        if tok.kind != "name":
            raise _Unreadable(tok.text)
        if tok.text in ("true", "false"):
            return Lit(tok.text == "true")
        if tok.text in ("has", "size") and self.peek() == "(":
            self.take("(")
            inner = self.path(self.take())
            self.take(")")
            if not isinstance(inner, Path):
                raise _Unreadable("a macro inside has() or size()")
            return Call(tok.text, inner)
        return self.path(tok)

    def list_literal(self) -> ListLit:
        items: list[str | int | float | bool] = []
        while self.peek() != "]":
            item = self.operand()
            if not isinstance(item, Lit):
                raise _Unreadable("a list of literals only")
            items.append(item.value)
            if self.peek() == ",":
                self.take()
        self.take("]")
        return ListLit(tuple(items))

    def path(self, first: _Tok) -> Path | Macro:
        if first.kind != "name":
            raise _Unreadable(first.text)
        parts = [first.text]
        while self.peek() == ".":
            self.take()
            part = self.take().text
            if part in _MACROS and self.peek() == "(":
                return self.macro(part, Path(".".join(parts)))
            parts.append(part)
        return Path(".".join(parts))

    def macro(self, function: str, path: Path) -> Macro:
        self.take("(")
        var = self.take().text
        self.take(",")
        body = self.expr()
        self.take(")")
        return Macro(function, path, _relative(body, var))


def parse(condition: str) -> Node | None:
    """The condition's tree, or None when it uses CEL outside the subset."""
    try:
        parser = _Parser(_tokens(condition))
        node = parser.expr()
        if parser.peek() is not None:
            return None
    except _Unreadable:
        return None
    return node


def _relative(node: Node, var: str) -> Node:
    """``node`` with the macro variable's paths made relative (``p.role`` -> ``role``); any
    other path inside the body is refused (it would change meaning out of context)."""
    match node:
        case Path(name) if name.startswith(var + "."):
            return Path(name.removeprefix(var + "."))
        case Path():
            raise _Unreadable(node.name)
        case Binary(op, left, right):
            return Binary(op, _relative(left, var), _relative(right, var))
        case Not(inner):
            return Not(_relative(inner, var))
        case Call(function, Path(name)) if name.startswith(var + "."):
            return Call(function, Path(name.removeprefix(var + ".")))
        case Call():
            raise _Unreadable(node.path.name)
    return node


def _field(path: Path, t: Translator) -> str:
    """``notice.risk.at_risk`` by its label ("hvem som er utsatt"); a path no model labels
    (a macro's relative path) as words: ``risk › at risk``. The notice itself is implied."""
    text = path.name.removeprefix("notice.")
    known = field_labels().get(text)
    if known is not None and t.lang in known.labels:
        return known.labels[t.lang]
    return " › ".join(part.replace("_", " ") for part in text.split("."))


def _value(value: object, t: Translator) -> str:
    if isinstance(value, bool):
        return t.gettext("true") if value else t.gettext("false")
    return str(value)


def _alternatives(values: tuple[object, ...], t: Translator) -> str:
    # "one of (a, b)" rather than "a or b": an "or" here would read as the connective
    words = [_value(v, t) for v in values]
    if len(words) == 1:
        return words[0]
    return t.gettext("one of (%(values)s)", values=", ".join(words))


def _words(node: Node, t: Translator) -> str:  # noqa: PLR0911 - one return per kind of node
    match node:
        case Binary("and", left, right):
            return t.gettext(
                "%(left)s and %(right)s", left=_part(left, "and", t), right=_part(right, "and", t)
            )
        case Binary("or", left, right):
            return t.gettext(
                "%(left)s or %(right)s", left=_part(left, "or", t), right=_part(right, "or", t)
            )
        case Binary("in", item, collection):
            return _membership(item, collection, t)
        case Binary(op, left, right):
            return _comparison(op, left, right, t)
        case Not(Call("has", path)):
            return t.gettext("%(field)s is not given", field=_field(path, t))
        case Not(inner):
            return t.gettext("not (%(words)s)", words=_words(inner, t))
        case Call("has", path):
            return t.gettext("%(field)s is given", field=_field(path, t))
        case Path():
            return t.gettext("%(field)s is true", field=_field(node, t))
        case Macro("exists", path, body):
            return t.gettext(
                "%(field)s has an entry where %(body)s", field=_field(path, t), body=_words(body, t)
            )
        case Macro("all", path, body):
            return t.gettext(
                "every entry of %(field)s is such that %(body)s",
                field=_field(path, t),
                body=_words(body, t),
            )
        case Lit(True):
            return t.gettext("always")
        case Lit(False):
            return t.gettext("never")
    raise _Unreadable(type(node).__name__)


def _part(node: Node, within: str, t: Translator) -> str:
    text = _words(node, t)
    # a different connective inside another is bracketed, so "a and (b or c)" stays exact
    nested = isinstance(node, Binary) and node.op in ("and", "or") and node.op != within
    return f"({text})" if nested else text


def _membership(item: Node, collection: Node, t: Translator) -> str:
    if isinstance(item, Path) and isinstance(collection, ListLit):
        return t.gettext(
            "%(field)s is %(value)s",
            field=_field(item, t),
            value=_alternatives(collection.values, t),
        )
    if isinstance(item, Lit) and isinstance(collection, Path):
        return t.gettext(
            "%(field)s includes %(value)s", field=_field(collection, t), value=_value(item.value, t)
        )
    raise _Unreadable("in")


def _age(op: str, n: str, t: Translator) -> str | None:
    if op == "<":
        return t.gettext("the child is under %(n)s", n=n)
    if op == "<=":
        return t.gettext("the child is %(n)s or younger", n=n)
    if op == ">":
        return t.gettext("the child is over %(n)s", n=n)
    if op == ">=":
        return t.gettext("the child is %(n)s or older", n=n)
    return None


def _compare(op: str, field: str, value: str, t: Translator) -> str:
    if op == "==":
        return t.gettext("%(field)s is %(value)s", field=field, value=value)
    if op == "!=":
        return t.gettext("%(field)s is not %(value)s", field=field, value=value)
    return t.gettext("%(field)s %(op)s %(value)s", field=field, op=_SIGN[op], value=value)


_SIGN = {"<": "<", "<=": "≤", ">": ">", ">=": "≥"}


def _comparison(op: str, left: Node, right: Node, t: Translator) -> str:
    if not isinstance(right, Lit):
        raise _Unreadable(op)
    value = _value(right.value, t)
    if isinstance(left, Path) and left.name == "child_age":
        said = _age(op, value, t)
        if said is not None:
            return said
    if isinstance(left, Call) and left.function == "size" and right.value == 0:
        if op in (">", "!="):
            return t.gettext("%(field)s is not empty", field=_field(left.path, t))
        if op == "==":
            return t.gettext("%(field)s is empty", field=_field(left.path, t))
    if isinstance(left, Path):
        return _compare(op, _field(left, t), value, t)
    if isinstance(left, Call) and left.function == "size":
        number = t.gettext("the number of %(field)s", field=_field(left.path, t))
        return _compare(op, number, value, t)
    raise _Unreadable(op)


def in_words(condition: str, t: Translator) -> str | None:
    """The condition as a sentence fragment in ``t``'s language, or None when it cannot be
    said exactly."""
    node = parse(condition)
    if node is None:
        return None
    try:
        return _words(node, t)
    except _Unreadable:
        return None
