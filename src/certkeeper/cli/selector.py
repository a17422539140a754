"""Label selectors, parsed as Kubernetes parses them (apimachinery labels.Parse).

``-l`` takes the whole syntax: ``a=b``, ``a==b``, ``a!=b``, ``a in (x,y)``, ``a notin (x)``,
``a``, ``!a``, ``a>1``, ``a<1``. A selector that does not parse is an error with the
parser's own message, never a filter that silently matches something else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..api.validation.errors import FieldError, invalid
from ..api.validation.names import is_qualified_name, is_valid_label_value


class SelectorError(ValueError):
    """The selector does not parse; ``str()`` is the API server's message."""


# tokens
_ERROR, _EOS, _CLOSE, _COMMA, _NOT, _DEQ, _EQ, _GT, _IDENT, _IN, _LT, _NEQ, _NOTIN, _OPEN = range(14)
_STRING_TO_TOKEN = {
    ")": _CLOSE, ",": _COMMA, "!": _NOT, "==": _DEQ, "=": _EQ, ">": _GT, "in": _IN,
    "<": _LT, "!=": _NEQ, "notin": _NOTIN, "(": _OPEN,
}
_SPECIAL = set("=!(),><")
_WHITESPACE = set(" \t\r\n")


def _lex(s: str) -> list[tuple[int, str]]:
    """The token stream of ``s`` (the Lexer of selector.go, character for character)."""
    items: list[tuple[int, str]] = []
    pos = 0
    while True:
        while pos < len(s) and s[pos] in _WHITESPACE:
            pos += 1
        if pos >= len(s):
            items.append((_EOS, ""))
            return items
        if s[pos] in _SPECIAL:
            buf = ""
            last: tuple[int, str] | None = None
            while pos < len(s) and s[pos] in _SPECIAL:
                buf += s[pos]
                if buf in _STRING_TO_TOKEN:
                    last = (_STRING_TO_TOKEN[buf], buf)
                    pos += 1
                elif last is not None:
                    break
                else:
                    pos += 1
            items.append(last if last is not None else (_ERROR, f"error expected: keyword found '{buf}'"))
            continue
        start = pos
        while pos < len(s) and s[pos] not in _SPECIAL and s[pos] not in _WHITESPACE:
            pos += 1
        word = s[start:pos]
        items.append((_STRING_TO_TOKEN.get(word, _IDENT), word))


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # exists, !, =, ==, !=, in, notin, gt, lt
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op == "exists":
            return present
        if self.op == "!":
            return not present
        if self.op in ("=", "==", "in"):
            return present and value in self.values
        if self.op in ("!=", "notin"):
            return not present or value not in self.values
        if not present:
            return False
        try:
            have, want = int(value or ""), int(self.values[0])
        except ValueError:
            return False
        return have > want if self.op == "gt" else have < want


def _aggregate(errors: list[FieldError]) -> str:
    texts = [str(e) for e in errors]
    return texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"


def _new_requirement(key: str, op: str, values: list[str]) -> Requirement:
    """``NewRequirement``: the operator's arity and every value's label syntax."""
    errs: list[FieldError] = []
    if op in ("in", "notin") and not values:
        errs.append(invalid("values", values, "for 'in', 'notin' operators, values set can't be empty"))
    if op in ("=", "==", "!=") and len(values) != 1:
        errs.append(invalid("values", values, "exact-match compatibility requires one single value"))
    if op in ("gt", "lt"):
        for i, v in enumerate(values):
            try:
                int(v, 10)
            except ValueError:
                errs.append(invalid(f"values[{i}]", v, "for 'Gt', 'Lt' operators, the value must be an integer"))
    for i, v in enumerate(values):
        msgs = is_valid_label_value(v)
        if msgs:
            errs.append(invalid(f"values[{i}]", v, "; ".join(msgs)))
    if errs:
        raise SelectorError(_aggregate(errs))
    return Requirement(key, op, tuple(sorted(set(values))))


class _Parser:
    def __init__(self, text: str) -> None:
        self.items = _lex(text)
        self.pos = 0

    def _token(self, values: bool, advance: bool) -> tuple[int, str]:
        tok, lit = self.items[self.pos]
        if advance:
            self.pos += 1
        if values and tok in (_IN, _NOTIN):
            tok = _IDENT
        return tok, lit

    def lookahead(self, values: bool = True) -> tuple[int, str]:
        return self._token(values, advance=False)

    def consume(self, values: bool = True) -> tuple[int, str]:
        return self._token(values, advance=True)

    def parse(self) -> list[Requirement]:
        out: list[Requirement] = []
        while True:
            tok, lit = self.lookahead()
            if tok in (_IDENT, _NOT):
                try:
                    out.append(self.requirement())
                except SelectorError as e:
                    raise SelectorError(f"unable to parse requirement: {e}") from None
                t, lit2 = self.consume()
                if t == _EOS:
                    return out
                if t == _COMMA:
                    t2, l2 = self.lookahead()
                    if t2 not in (_IDENT, _NOT):
                        raise SelectorError(f"found '{l2}', expected: identifier after ','")
                    continue
                raise SelectorError(f"found '{lit2}', expected: ',' or 'end of string'")
            if tok == _EOS:
                return out
            raise SelectorError(f"found '{lit}', expected: !, identifier, or 'end of string'")

    def requirement(self) -> Requirement:
        tok, lit = self.consume()
        op = ""
        if tok == _NOT:
            op = "!"
            tok, lit = self.consume()
        if tok != _IDENT:
            raise SelectorError(f"found '{lit}', expected: identifier")
        msgs = is_qualified_name(lit)
        if msgs:
            raise SelectorError(str(invalid("<nil>", lit, "; ".join(msgs))))
        key = lit
        if op == "!" or self.lookahead()[0] in (_EOS, _COMMA):
            # "!a=b" stops after "!a": the "=" is then reported where a ',' was expected
            return _new_requirement(key, op or "exists", [])
        tok, lit = self.consume(values=False)
        ops = {_IN: "in", _EQ: "=", _DEQ: "==", _GT: "gt", _LT: "lt", _NOTIN: "notin", _NEQ: "!="}
        if tok not in ops:
            raise SelectorError(f"found '{lit}', expected: '=', '!=', '==', 'in', notin'")
        op = ops[tok]
        values = self.set_values() if op in ("in", "notin") else self.exact_value()
        return _new_requirement(key, op, values)

    def set_values(self) -> list[str]:
        tok, lit = self.consume()
        if tok != _OPEN:
            raise SelectorError(f"found '{lit}' expected: '('")
        tok, lit = self.lookahead()
        if tok in (_IDENT, _COMMA):
            values = self.identifiers()
            if self.consume()[0] != _CLOSE:
                raise SelectorError(f"found '{lit}', expected: ')'")
            return values
        if tok == _CLOSE:
            self.consume()
            return [""]
        raise SelectorError(f"found '{lit}', expected: ',', ')' or identifier")

    def identifiers(self) -> list[str]:
        out: set[str] = set()
        while True:
            tok, lit = self.consume()
            if tok == _IDENT:
                out.add(lit)
                t2, l2 = self.lookahead()
                if t2 == _COMMA:
                    continue
                if t2 == _CLOSE:
                    return sorted(out)
                raise SelectorError(f"found '{l2}', expected: ',' or ')'")
            if tok == _COMMA:
                if not out:
                    out.add("")
                t2, _ = self.lookahead()
                if t2 == _CLOSE:
                    out.add("")
                    return sorted(out)
                if t2 == _COMMA:
                    self.consume()
                    out.add("")
                continue
            raise SelectorError(f"found '{lit}', expected: ',', or identifier")

    def exact_value(self) -> list[str]:
        tok, _ = self.lookahead()
        if tok in (_EOS, _COMMA):
            return [""]
        tok, lit = self.consume()
        if tok == _IDENT:
            return [lit]
        raise SelectorError(f"found '{lit}', expected: identifier")


def parse(text: str) -> list[Requirement]:
    """Requirements sorted by key, as labels.Parse returns them; SelectorError if bad."""
    return sorted(_Parser(text).parse(), key=lambda r: r.key)


def compile_selector(text: str | None) -> tuple[dict[str, str], Callable[[dict[str, str]], bool]]:
    """The equalities a store can filter on, and a predicate for the whole selector."""
    reqs = parse(text) if text else []
    equal = {r.key: r.values[0] for r in reqs if r.op in ("=", "==") and len(r.values) == 1}

    def matches(labels: dict[str, str]) -> bool:
        return all(r.matches(labels) for r in reqs)

    return equal, matches
