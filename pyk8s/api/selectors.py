"""Label and field selector parsing, as k8s.io/apimachinery's labels.Parse and
fields.ParseSelector accept them.

Selectors are parsed once per request into plain tuples (the store contract's format) that
both storage backends evaluate; the native one evaluates them in C++.
"""

from __future__ import annotations

import re

LabelRequirement = tuple[str, str, tuple[str, ...]]
FieldRequirement = tuple[str, str, str]

__all__ = [
    "SelectorError",
    "parse_label_selector",
    "parse_field_selector",
    "match_labels",
    "match_fields",
    "selector_from_match_labels",
]


class SelectorError(ValueError):
    """A selector that does not parse; the message is what a 400 BadRequest carries."""


_NAME_RE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_DNS_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def qualified_name_error(key: str) -> str | None:
    """Why ``key`` is not a valid label key (upstream IsQualifiedName), or None."""
    prefix, sep, name = key.rpartition("/")
    if sep:
        if not prefix:
            return "prefix part must be non-empty"
        if len(prefix) > 253 or not _DNS_SUBDOMAIN_RE.match(prefix):
            return "prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
    if not name:
        return "name part must be non-empty"
    if len(name) > 63:
        return "name part must be no more than 63 characters"
    if not _NAME_RE.match(name):
        return (
            "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
            "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
            "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
        )
    return None


def label_value_error(value: str) -> str | None:
    """Why ``value`` is not a valid label value (upstream IsValidLabelValue), or None."""
    if value == "":
        return None
    if len(value) > 63:
        return "must be no more than 63 characters"
    if not _NAME_RE.match(value):
        return (
            "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
            "and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or "
            "'12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
        )
    return None


# The lexer follows apimachinery's: these characters end an identifier.
_SPECIAL = set("!=,()<> \t\n")

def _tokens(text: str) -> list[str]:
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in " \t\n":
            i += 1
        elif c in "(),":
            out.append(c)
            i += 1
        elif c in "!=<>":
            if text.startswith("!=", i) or text.startswith("==", i):
                out.append(text[i : i + 2])
                i += 2
            else:
                out.append(c)
                i += 1
        else:
            j = i
            while j < n and text[j] not in _SPECIAL:
                j += 1
            out.append(text[i:j])
            i = j
    return out


def _is_identifier(tok: str | None) -> bool:
    return tok is not None and tok not in _SPECIAL and tok not in {"!=", "=="}


def parse_label_selector(text: str | None) -> tuple[LabelRequirement, ...]:
    """Parse ``a=b,c!=d,e in (f,g),h notin (i),j,!k`` into requirements.

    Raises SelectorError with an apimachinery-style message."""
    if not text or not text.strip():
        return ()
    toks = _tokens(text)
    reqs: list[LabelRequirement] = []
    pos = 0

    def peek() -> str | None:
        return toks[pos] if pos < len(toks) else None

    while True:
        tok = peek()
        if tok is None:
            raise SelectorError("unable to parse requirement: found '', expected: identifier")
        negated = False
        if tok == "!":
            negated = True
            pos += 1
            tok = peek()
        if not _is_identifier(tok):
            raise SelectorError(f"unable to parse requirement: found '{tok or ''}', expected: identifier")
        key = tok
        assert key is not None
        pos += 1
        err = qualified_name_error(key)
        if err:
            raise SelectorError(f"unable to parse requirement: invalid label key \"{key}\": {err}")
        nxt = peek()
        if negated:
            if nxt not in (None, ","):
                raise SelectorError(f"unable to parse requirement: found '{nxt}', expected: ',' or end of string")
            reqs.append((key, "!", ()))
        elif nxt in (None, ","):
            reqs.append((key, "exists", ()))
        elif nxt in ("=", "==", "!="):
            pos += 1
            value = peek()
            if value is None or value == ",":
                value = ""
            elif not _is_identifier(value):
                raise SelectorError(f"unable to parse requirement: found '{value}', expected: identifier")
            else:
                pos += 1
            err = label_value_error(value)
            if err:
                raise SelectorError(f"unable to parse requirement: invalid label value: \"{value}\": {err}")
            reqs.append((key, "!=" if nxt == "!=" else "=", (value,)))
        elif nxt in ("in", "notin"):
            pos += 1
            if peek() != "(":
                raise SelectorError(f"unable to parse requirement: found '{peek() or ''}', expected: '('")
            pos += 1
            values: list[str] = []
            while True:
                tok = peek()
                if tok == ")":
                    # "k in ()" and "k in (a,)" are accepted upstream: the empty string is a value.
                    values.append("")
                    pos += 1
                    break
                if tok is None:
                    raise SelectorError("unable to parse requirement: found '', expected: ')'")
                if tok == ",":
                    values.append("")
                    pos += 1
                    continue
                if not _is_identifier(tok):
                    raise SelectorError(f"unable to parse requirement: found '{tok}', expected: identifier")
                err = label_value_error(tok)
                if err:
                    raise SelectorError(f"unable to parse requirement: invalid label value: \"{tok}\": {err}")
                values.append(tok)
                pos += 1
                sep = peek()
                if sep == ",":
                    pos += 1
                    if peek() == ")":
                        values.append("")
                        pos += 1
                        break
                    continue
                if sep == ")":
                    pos += 1
                    break
                raise SelectorError(f"unable to parse requirement: found '{sep or ''}', expected: ',' or ')'")
            # Upstream keeps values as a sorted set.
            reqs.append((key, nxt, tuple(sorted(set(values)))))
        else:
            raise SelectorError(
                f"unable to parse requirement: found '{nxt}', expected: in, notin, =, ==, !=, gt, lt"
            )
        tok = peek()
        if tok is None:
            break
        if tok != ",":
            raise SelectorError(f"found '{tok}', expected: ',' or 'end of string'")
        pos += 1
    return tuple(reqs)


def _split_unescaped(text: str, sep: str) -> list[str]:
    parts, cur, i = [], [], 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            cur.append(text[i : i + 2])
            i += 2
            continue
        if c == sep:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    parts.append("".join(cur))
    return parts


_UNESCAPE_RE = re.compile(r"\\(.)")


def _unescape(value: str) -> str:
    bad = re.search(r"\\([^\\,=])", value)
    if bad:
        raise SelectorError(f"invalid field selector: invalid escape sequence: \\{bad.group(1)}")
    return _UNESCAPE_RE.sub(r"\1", value)


def parse_field_selector(text: str | None) -> tuple[FieldRequirement, ...]:
    """Parse ``spec.nodeName=n1,status.phase!=Failed`` (with ``\\,`` ``\\=`` escapes)."""
    if not text or not text.strip():
        return ()
    reqs: list[FieldRequirement] = []
    for part in _split_unescaped(text, ","):
        if not part:
            continue
        for op, sym in (("!=", "!="), ("=", "=="), ("=", "=")):
            idx = _find_unescaped(part, sym)
            if idx >= 0:
                field = part[:idx].strip()
                value = _unescape(part[idx + len(sym) :])
                if not field:
                    raise SelectorError(f"invalid selector: '{text}'; can't understand '{part}'")
                reqs.append((field, op, value))
                break
        else:
            raise SelectorError(f"invalid selector: '{text}'; can't understand '{part}'")
    return tuple(reqs)


def _find_unescaped(text: str, sym: str) -> int:
    i = 0
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text.startswith(sym, i):
            return i
        i += 1
    return -1


def match_labels(reqs: tuple[LabelRequirement, ...], labels: dict[str, str]) -> bool:
    """Evaluate label requirements in Python (reference backend, tests)."""
    for key, op, values in reqs:
        present = key in labels
        if op == "=":
            if not present or labels[key] != values[0]:
                return False
        elif op == "!=":
            if present and labels[key] == values[0]:
                return False
        elif op == "in":
            if not present or labels[key] not in values:
                return False
        elif op == "notin":
            if present and labels[key] in values:
                return False
        elif op == "exists":
            if not present:
                return False
        elif op == "!":
            if present:
                return False
        else:
            raise SelectorError(f"unknown operator {op!r}")
    return True


def match_fields(reqs: tuple[FieldRequirement, ...], fields: dict[str, str]) -> bool:
    for field, op, value in reqs:
        actual = fields.get(field, "")
        if (actual == value) != (op == "="):
            return False
    return True


def selector_from_match_labels(match_labels_: dict[str, str]) -> tuple[LabelRequirement, ...]:
    """A LabelSelector's matchLabels as requirements (sorted by key, as upstream)."""
    return tuple((k, "=", (v,)) for k, v in sorted(match_labels_.items()))
