"""Durations as people write them in configs and on command lines -> seconds (pure).

Accepted: a bare number of seconds ("90", "1.5"), unit strings ("15m", "2h", "1d", "1h30m", "500ms",
"1w"), and ISO-8601 durations ("PT15M", "P1D", "P1DT2H30M", "PT0.5S"). Years/months are refused
because their length is ambiguous.
"""

from __future__ import annotations

import re

UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}

_NUMBER = r"\d+(?:\.\d+)?"
# Only spaces between parts: a newline or other control character never belongs in a duration.
_UNIT_PART = re.compile(rf"({_NUMBER}) *(ms|s|m|h|d|w)", re.IGNORECASE)
_UNIT_WHOLE = re.compile(rf"(?: *{_NUMBER} *(?:ms|s|m|h|d|w))+ *", re.IGNORECASE)
_ISO = re.compile(
    rf"P(?:(?P<w>{_NUMBER})W)?(?:(?P<d>{_NUMBER})D)?"
    rf"(?:T(?:(?P<h>{_NUMBER})H)?(?:(?P<m>{_NUMBER})M)?(?:(?P<s>{_NUMBER})S)?)?",
    re.IGNORECASE,
)


class DurationError(ValueError):
    """A duration string that cannot be read; the message names the field, the value and the rule."""


def parse_duration(value: str | int | float, field: str = "duration") -> float:
    """Return `value` in seconds (>= 0); raise DurationError naming `field` otherwise."""
    if isinstance(value, bool):
        raise DurationError(f"{field}={value!r}: expected a duration such as '15m', '2h', '1d' or 'PT15M'")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        seconds = _parse_text(str(value).strip(), field)
    if seconds < 0:
        raise DurationError(f"{field}={value!r}: a duration must not be negative")
    return seconds


def _parse_text(text: str, field: str) -> float:
    rule = "expected seconds ('90'), units ('15m', '2h', '1d', '1h30m') or ISO-8601 ('PT15M', 'P1D')"
    if not text:
        raise DurationError(f"{field}='': empty; {rule}")
    if re.fullmatch(_NUMBER, text):
        return float(text)
    if text[0] in "pP":
        match = _ISO.fullmatch(text)
        if not match or not any(match.groupdict().values()) or text.upper().endswith("T"):
            if re.search(r"\d+(?:\.\d+)?[YM]", text.split("T")[0].upper()):
                raise DurationError(f"{field}={text!r}: years and months have no fixed length; use days")
            raise DurationError(f"{field}={text!r}: not an ISO-8601 duration; {rule}")
        parts = {k: float(v) for k, v in match.groupdict().items() if v}
        return (parts.get("w", 0) * 604800 + parts.get("d", 0) * 86400 + parts.get("h", 0) * 3600
                + parts.get("m", 0) * 60 + parts.get("s", 0))
    if _UNIT_WHOLE.fullmatch(text):
        return sum(float(num) * UNIT_SECONDS[unit.lower()] for num, unit in _UNIT_PART.findall(text))
    raise DurationError(f"{field}={text!r}: {rule}")


def format_duration(seconds: float) -> str:
    """Short human form for reports: 90 -> '1m30s', 86400 -> '1d'."""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    remaining = int(round(seconds))
    out = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if remaining >= size:
            count, remaining = divmod(remaining, size)
            out.append(f"{count}{unit}")
    return "".join(out) or "0s"
