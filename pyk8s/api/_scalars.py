"""The Go scalar types whose JSON decoding can fail on a well-typed JSON string.

``resource.Quantity``, ``metav1.Time``/``MicroTime`` and ``[]byte`` (base64) parse their
string while the body is decoded, so a bad value makes kube-apiserver answer 400 "cannot be
handled as a ..." with the parser's own message.  Each function here returns that message,
or ``None`` when the value parses.  Only used off the fast path: the schema checker caches
strings it has seen succeed.
"""

from __future__ import annotations

import calendar
from fractions import Fraction

__all__ = ["quantity_error", "canonical_quantity", "time_error", "base64_error", "QUANTITY_FORMAT_ERROR"]

# k8s.io/apimachinery/pkg/api/resource: ErrFormatWrong, ErrSuffix.
QUANTITY_FORMAT_ERROR = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
_QUANTITY_SUFFIX_ERROR = "unable to parse quantity's suffix"
_SUFFIX_CHARS = frozenset("eEinumkKMGTP")
_DIGITS = frozenset("0123456789")
_KNOWN_SUFFIXES = frozenset(("", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "n", "u", "m", "k", "M", "G", "T", "P", "E"))


def quantity_error(text: str) -> str | None:
    """Upstream ParseQuantity's verdict on ``text`` (a JSON string's content, or a JSON
    literal's text: Quantity.UnmarshalJSON parses numbers, ``true`` and objects alike)."""
    text = text.strip()
    if not text:
        return QUANTITY_FORMAT_ERROR
    if text == "0":
        return None
    pos, end = 0, len(text)
    if text[0] in "+-":
        pos = 1
    while pos < end and text[pos] in _DIGITS:
        pos += 1
    if pos < end and text[pos] == ".":
        pos += 1
        while pos < end and text[pos] in _DIGITS:
            pos += 1
    suffix_start = pos
    while pos < end and text[pos] in _SUFFIX_CHARS:
        pos += 1
    if pos < end and text[pos] in "+-":
        pos += 1
    while pos < end and text[pos] in _DIGITS:
        pos += 1
    if pos < end:
        return QUANTITY_FORMAT_ERROR
    suffix = text[suffix_start:]
    if suffix in _KNOWN_SUFFIXES:
        return None
    if len(suffix) > 1 and suffix[0] in "eE":
        exponent = suffix[1:]
        body = exponent[1:] if exponent[0] in "+-" else exponent
        if body and body.isdigit() and abs(int(exponent)) < 2**63:
            return None
    return _QUANTITY_SUFFIX_ERROR


# The suffixes of resource.Quantity's three formats (suffix.go), by exponent.
_DECIMAL_SI_EXPONENTS = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DECIMAL_SI_SUFFIXES = {exponent: suffix for suffix, exponent in _DECIMAL_SI_EXPONENTS.items()}
_BINARY_SI_EXPONENTS = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_BINARY_SI_SUFFIXES = ("", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei")
# ParseQuantity caps a BinarySI amount's magnitude at maxAllowed (int64's maximum).
_BINARY_SI_MAX = 2**63 - 1
_NANO = 10**9


def _int32(value: int) -> int:
    # suffixHandler.interpret narrows the parsed exponent with int32(...).
    return (value + 2**31) % 2**32 - 2**31


def canonical_quantity(text: str) -> str:
    """What kube-apiserver stores for a valid Quantity ``text``: ``Quantity.String()`` after
    ``ParseQuantity`` (apimachinery quantity.go).  ``text`` must pass ``quantity_error``.

    The value is exact (rounded up to a whole nano, BinarySI capped at 2^63-1) and printed
    in the format its suffix chose: DecimalSI/DecimalExponent as the largest exponent that
    is a multiple of 3 keeping an integer mantissa (``1500m``, ``2k``, ``12e6``); BinarySI as
    a power of 1024 when the value is a whole number of at least 1024 in magnitude
    (``1Gi``, ``1536Mi``), otherwise as DecimalSI.  ParseQuantity keeps the text itself when
    its int64 fast path judges it already canonical, so some spellings survive as written
    (``1Ki``, ``1e3``, ``+1``, ``1.500``).
    """
    text = text.strip()
    if text == "0":
        return "0"
    negative = text[0] == "-"
    pos = 1 if text[0] in "+-" else 0
    end = len(text)
    start = pos
    while pos < end and text[pos] in _DIGITS:
        pos += 1
    num = text[start:pos].lstrip("0") or "0"
    denom = ""
    if pos < end and text[pos] == ".":
        start = pos = pos + 1
        while pos < end and text[pos] in _DIGITS:
            pos += 1
        denom = text[start:pos]
    suffix = text[pos:]
    shifted = num + denom
    unscaled = int(shifted)
    if unscaled == 0:
        return "0"

    binary_exponent = _BINARY_SI_EXPONENTS.get(suffix)
    if binary_exponent is not None:
        # The int64 fast path (no fraction, few enough digits, no overflow) keeps the text
        # when the mantissa is not a multiple of 8.
        precision = 15 - len(num) - binary_exponent * 3 // 10 - 1
        if not denom and precision >= 0 and unscaled << binary_exponent <= _BINARY_SI_MAX and unscaled & 7:
            return text
        amount = Fraction(unscaled << binary_exponent, 10 ** len(denom))
        if amount.denominator != 1:
            amount = Fraction(-((-amount * _NANO) // 1), _NANO)  # round up to a nano
        amount = min(amount, Fraction(_BINARY_SI_MAX))
        if amount >= 1024 and amount.denominator == 1:
            whole, power = amount.numerator, 0
            while whole % 1024 == 0:
                whole //= 1024
                power += 1
            return ("-" if negative else "") + str(whole) + _BINARY_SI_SUFFIXES[power]
        # Below 1024 or fractional: printed as DecimalSI, in nanos (exact after the rounding).
        return _canonical_decimal(negative, int(amount * _NANO), -9, True)

    decimal_si = suffix in _DECIMAL_SI_EXPONENTS
    exponent = _DECIMAL_SI_EXPONENTS[suffix] if decimal_si else _int32(int(suffix[1:]))
    scale = exponent - len(denom)
    # The int64 fast path keeps text whose exponent is a multiple of 3 and whose digits have
    # neither a leading zero nor three trailing ones.
    if len(shifted) <= 18 and scale >= -9 and scale % 3 == 0 and not shifted.endswith("000") and shifted[0] != "0":
        return text
    if scale < -9:
        divisor = 10 ** (-9 - scale)
        unscaled = -(-unscaled // divisor)  # round up to a nano
        scale = -9
    return _canonical_decimal(negative, unscaled, scale, decimal_si)


def _canonical_decimal(negative: bool, unscaled: int, exponent: int, decimal_si: bool) -> str:
    """AsCanonicalBytes: trailing zeros move into the exponent, which then drops to a
    multiple of 3; the suffix is DecimalSI's when it has one for that exponent, else
    ``e<exponent>`` (none for 0)."""
    digits = str(unscaled)
    mantissa = digits.rstrip("0")
    exponent += len(digits) - len(mantissa)
    extra = exponent % 3
    mantissa += "0" * extra
    exponent -= extra
    suffix = _DECIMAL_SI_SUFFIXES.get(exponent) if decimal_si else None
    if suffix is None:
        suffix = f"e{exponent}" if exponent else ""
    return ("-" if negative else "") + mantissa + suffix


# Go's time.Parse(time.RFC3339, ...): the layout's elements in order, each with the value
# text it consumes.  Errors name the remaining value and the layout element, as Go does.
_RFC3339 = "2006-01-02T15:04:05Z07:00"
_RFC3339_ELEMENTS = (
    ("", "2006", 4),
    ("-", "01", 2),
    ("-", "02", 2),
    ("T", "15", 2),
    (":", "04", 2),
    (":", "05", 2),
)
_RANGES = {"01": (1, 12, "month"), "15": (0, 23, "hour"), "04": (0, 59, "minute"), "05": (0, 59, "second")}


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def time_error(value: str) -> str | None:
    """The message Go's ``time.Parse(time.RFC3339, value)`` fails with, or None."""
    rest = value
    numbers: dict[str, int] = {}

    def cannot(elem: str) -> str:
        return f"parsing time {_quote(value)} as {_quote(_RFC3339)}: cannot parse {_quote(rest)} as {_quote(elem)}"

    for prefix, elem, width in _RFC3339_ELEMENTS:
        if prefix:
            if not rest.startswith(prefix):
                return cannot(prefix)
            rest = rest[len(prefix):]
        digits = rest[:width]
        if len(digits) != width or not digits.isascii() or not digits.isdigit():
            return cannot(elem)
        numbers[elem] = int(digits)
        rest = rest[width:]
        bounds = _RANGES.get(elem)
        if bounds and not bounds[0] <= numbers[elem] <= bounds[1]:
            return f"parsing time {_quote(value)}: {bounds[2]} out of range"
    if rest.startswith(".") or rest.startswith(","):
        fraction = 1
        while fraction < len(rest) and rest[fraction].isascii() and rest[fraction].isdigit():
            fraction += 1
        if fraction == 1:
            return cannot("Z07:00")
        rest = rest[fraction:]
    if rest.startswith("Z"):
        rest = rest[1:]
    elif len(rest) >= 6 and rest[0] in "+-" and rest[3] == ":" and rest[1:3].isdigit() and rest[4:6].isdigit():
        if int(rest[1:3]) > 23 or int(rest[4:6]) > 59:
            return f"parsing time {_quote(value)}: time zone offset hour out of range"
        rest = rest[6:]
    else:
        return cannot("Z07:00")
    if rest:
        return f"parsing time {_quote(value)}: extra text: {_quote(rest)}"
    year, month, day = numbers["2006"], numbers["01"], numbers["02"]
    if day < 1 or day > calendar.monthrange(year or 2000, month)[1]:
        return f"parsing time {_quote(value)}: day out of range"
    return None


_BASE64_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")


def base64_error(value: str) -> str | None:
    """Go's base64.StdEncoding (padded) verdict, as encoding/json decodes a ``[]byte``:
    ``illegal base64 data at input byte N``.  Newlines are skipped, as Go skips them."""
    in_quantum = 0
    index = 0
    end = len(value)
    while index < end:
        char = value[index]
        if char in "\r\n":
            index += 1
            continue
        if char == "=":
            # Padding completes a quantum that has two or three characters.
            if in_quantum < 2:
                return f"illegal base64 data at input byte {index}"
            needed = 4 - in_quantum
            seen = 0
            while index < end and seen < needed:
                if value[index] in "\r\n":
                    index += 1
                    continue
                if value[index] != "=":
                    return f"illegal base64 data at input byte {index}"
                seen += 1
                index += 1
            if seen < needed:
                return f"illegal base64 data at input byte {end}"
            while index < end and value[index] in "\r\n":
                index += 1
            if index < end:
                return f"illegal base64 data at input byte {index}"
            return None
        if char not in _BASE64_ALPHABET:
            return f"illegal base64 data at input byte {index}"
        in_quantum = (in_quantum + 1) % 4
        index += 1
    if in_quantum:
        return f"illegal base64 data at input byte {end - in_quantum}"
    return None
