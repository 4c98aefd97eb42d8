"""Flink's `MemorySize`: parsing and formatting exactly as `org.apache.flink.configuration.MemorySize`.

Why a port and not a regex: Flink accepts `1728m`, `1728 MB`, `4 gibibytes` and plain bytes, rejects
`1.5g`, and its overflow and whitespace rules decide whether a cluster starts. Replicating them means
a catalogue value that passes here is one Flink accepts (checked against 1.15.2 and 2.3.0).
"""

from __future__ import annotations

import math
import re
import struct
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from functools import lru_cache

LONG_MAX = (1 << 63) - 1

# unit -> multiplier, as MemorySize.MemoryUnit (the first name of each is the canonical one)
_UNIT_NAMES: tuple[tuple[tuple[str, ...], int], ...] = (
    (("b", "bytes"), 1),
    (("k", "kb", "kibibytes"), 1 << 10),
    (("m", "mb", "mebibytes"), 1 << 20),
    (("g", "gb", "gibibytes"), 1 << 30),
    (("t", "tb", "tebibytes"), 1 << 40),
)
UNITS: dict[str, int] = {name: mult for names, mult in _UNIT_NAMES for name in names}
_ALL_UNITS = " / ".join("(" + " | ".join(names) + ")" for names, _ in _UNIT_NAMES)
# Java's String.trim() strips every char <= U+0020, not Unicode whitespace.
_JAVA_WS = "".join(chr(c) for c in range(33))


def java_trim(text: str) -> str:
    """`String.trim()`: strip code points <= U+0020 at both ends."""
    return text.strip(_JAVA_WS)


def _wrap_long(value: int) -> int:
    value &= (1 << 64) - 1
    return value - (1 << 64) if value >> 63 else value


_FAST_SIZE = re.compile(r"([0-9]{1,18})[ \t]*([a-zA-Z]*)")


@lru_cache(maxsize=4096)
def parse_memory_size(text: str) -> int:
    """`MemorySize.parseBytes(text)` -> bytes; ValueError with Flink's wording when Flink rejects it."""
    fast = _FAST_SIZE.fullmatch(text)
    if fast:  # common spellings (4096m, 1 gb, 42); anything unusual or overflowing takes the exact path
        multiplier = UNITS.get(fast.group(2).lower()) if fast.group(2) else 1
        if multiplier is not None:
            result = int(fast.group(1)) * multiplier
            if result <= LONG_MAX:
                return result
    trimmed = java_trim(text)
    if not trimmed:
        raise ValueError("argument is an empty- or whitespace-only string")
    pos = 0
    while pos < len(trimmed) and "0" <= trimmed[pos] <= "9":
        pos += 1
    number = trimmed[:pos]
    unit = java_trim(trimmed[pos:]).lower()
    if not number:
        raise ValueError(f"text does not start with a number: {text!r}")
    value = int(number) if len(number) <= 40 else LONG_MAX + 1
    if value > LONG_MAX:
        raise ValueError(f"The value '{number}' cannot be re represented as 64bit number (numeric overflow).")
    if unit and unit not in UNITS:
        raise ValueError(f"Memory size unit '{unit}' does not match any of the recognized units: {_ALL_UNITS}")
    multiplier = UNITS.get(unit, 1)
    result = _wrap_long(value * multiplier)
    quotient = abs(result) // multiplier * (1 if result >= 0 else -1)  # Java long division truncates
    if quotient != value:
        raise ValueError(f"The value '{text}' cannot be re represented as 64bit number of bytes (numeric overflow).")
    if result < 0:
        raise ValueError("bytes must be >= 0")
    return result


def _java_half_up(value: float, digits: int) -> str:
    # Java's Formatter rounds the shortest decimal representation (Double.toString) HALF_UP.
    return str(Decimal(repr(value)).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP))


@lru_cache(maxsize=4096)
def human_readable(num_bytes: int) -> str:
    """`MemorySize.toHumanReadableString()`, e.g. 130023424 -> '124.000mb (130023424 bytes)'."""
    chosen_name, chosen_mult = "bytes", 1
    for names, mult in _UNIT_NAMES:
        if num_bytes > mult:
            chosen_name, chosen_mult = names[1], mult
    if chosen_mult == 1:
        return f"{num_bytes} bytes"
    return f"{_java_half_up(num_bytes / chosen_mult, 3)}{chosen_name} ({num_bytes} bytes)"


def format_memory(num_bytes: int) -> str:
    """`MemorySize.toString()`: the largest unit that divides exactly, e.g. 1811939328 -> '1728 mb'.

    Flink's quirk kept: a size every unit divides (0, whole tebibytes) prints in bytes.
    """
    for idx, (_names, mult) in enumerate(_UNIT_NAMES):
        if num_bytes % mult:
            names, unit = _UNIT_NAMES[max(idx - 1, 0)]
            return f"{num_bytes // unit} {names[1]}"
    return f"{num_bytes} bytes"


# --- Java value conversions used by Flink's Configuration (ConfigurationUtils.convertTo*) ----------

_JAVA_FLOAT = re.compile(r"[+-]?(?:NaN|Infinity|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?[fFdD]?)")
_JAVA_HEX_FLOAT = re.compile(r"[+-]?0[xX](?:[0-9a-fA-F]+\.?|[0-9a-fA-F]*\.[0-9a-fA-F]+)[pP][+-]?[0-9]+[fFdD]?")
_JAVA_INT = re.compile(r"[+-]?\d+")
_FLOAT_MAX_HALF_UP = 3.4028235677973366e38  # midpoint between Float.MAX_VALUE and 2**128


def _java_literal(text: str) -> tuple[float, str | None]:
    """(correctly rounded double, decimal text for exact re-rounding or None) of a Java float literal."""
    trimmed = java_trim(text)
    body = trimmed[:-1] if trimmed[-1:] in ("f", "F", "d", "D") and "Infinity" not in trimmed else trimmed
    if _JAVA_HEX_FLOAT.fullmatch(trimmed):
        try:
            return float.fromhex(body), None  # binary: the double is exact unless it has > 53 bits
        except OverflowError:
            return (-math.inf if body.startswith("-") else math.inf), None
    if not _JAVA_FLOAT.fullmatch(trimmed):
        raise ValueError(f"For input string: {text!r} (not a Java floating-point literal)")
    if body.lstrip("+-") in ("NaN", "Infinity"):
        return float(body.replace("Infinity", "inf")), None
    return float(body), body


@lru_cache(maxsize=1024)
def java_parse_double(text: str) -> float:
    """`Double.parseDouble`: Java's literal grammar (trim, f/d suffix, hex), not Python's."""
    return _java_literal(text)[0]


def _f32(value: float) -> float:
    rounded: float = struct.unpack("f", struct.pack("f", value))[0]
    return rounded


def _f32_neighbour(value: float, towards: float) -> float:
    """The adjacent float32 of float32 `value` in the direction of `towards`."""
    bits = struct.unpack("<i", struct.pack("<f", value))[0]
    away_from_zero = (towards > value) == (value >= 0)
    if value == 0:
        return math.copysign(1.401298464324817e-45, towards)
    neighbour: float = struct.unpack("<f", struct.pack("<i", bits + (1 if away_from_zero else -1)))[0]
    return neighbour


@lru_cache(maxsize=1024)
def java_parse_float(text: str) -> float:
    """`Float.parseFloat`, widened to double exactly as Java's `float -> double` does.

    Rounds the decimal straight to float32: going through float64 first could round twice.
    """
    value, decimal_text = _java_literal(text)
    if math.isnan(value) or math.isinf(value):
        return value
    if abs(value) >= _FLOAT_MAX_HALF_UP:
        return math.copysign(math.inf, value)
    rounded = _f32(value)
    if rounded != value and decimal_text is not None:
        other = _f32_neighbour(rounded, value)
        if Fraction(rounded) + Fraction(other) == 2 * Fraction(value):  # the double sits on a float32 midpoint
            exact = Fraction(decimal_text)
            if exact != Fraction(value):
                rounded = other if (exact > Fraction(value)) == (other > rounded) else rounded
    return rounded


def java_parse_int(text: str, bits: int = 32) -> int:
    """`Integer.parseInt` / `Long.parseLong` (bits=64): sign + digits, no whitespace, range-checked."""
    if not _JAVA_INT.fullmatch(text):
        raise ValueError(f"For input string: {text!r}")
    value = int(text)
    if not -(1 << (bits - 1)) <= value < (1 << (bits - 1)):
        raise ValueError(f"For input string: {text!r} (out of range)")
    return value


def java_parse_bool(text: str) -> bool:
    """`ConfigurationUtils.convertToBoolean`: 'true'/'false' in any case, nothing else (no trimming)."""
    upper = text.upper()
    if upper == "TRUE":
        return True
    if upper == "FALSE":
        return False
    raise ValueError(f"Unrecognized option for boolean: {text}. Expected either true or false(case insensitive)")


def java_double_to_string(value: float) -> str:
    """`Double.toString`: shortest digits; plain notation in [1e-3, 1e7), else `d.dddE±n`."""
    if value != value:
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    sign = "-" if value < 0 else ""
    _, digits, exp = Decimal(repr(abs(value))).normalize().as_tuple()
    text = "".join(map(str, digits))
    point = len(text) + int(exp)  # position of the decimal point within the digits
    if 1e-3 <= abs(value) < 1e7:
        if point <= 0:
            return f"{sign}0.{'0' * -point}{text}"
        if point >= len(text):
            return f"{sign}{text}{'0' * (point - len(text))}.0"
        return f"{sign}{text[:point]}.{text[point:]}"
    mantissa = text[0] + "." + (text[1:] or "0")
    return f"{sign}{mantissa}E{point - 1}"


@lru_cache(maxsize=4096)
def java_string_hash(text: str) -> int:
    """`String.hashCode()` as a signed 32-bit int (UTF-16 code units)."""
    h = 0
    data = text.encode("utf-16-be")
    for i in range(0, len(data), 2):
        h = (31 * h + (data[i] << 8 | data[i + 1])) & 0xFFFFFFFF
    return h - (1 << 32) if h >> 31 else h


@lru_cache(maxsize=1024)
def java_hashmap_order(keys: tuple[str, ...], presized: bool = False) -> tuple[str, ...]:
    """Iteration order of a `java.util.HashMap<String, …>` filled by `put` in the given order.

    `presized`: built as `new HashSet<>(collection)`, whose table is sized for the collection up
    front (so 12 names get 32 buckets, not 16) — the order differs from incremental puts.
    """
    capacity = 16
    if presized:
        wanted = max(int(len(keys) / 0.75) + 1, 16)
        while capacity < wanted:
            capacity *= 2
    while len(set(keys)) > capacity * 3 // 4:
        capacity *= 2

    def bucket(key: str) -> int:
        h = java_string_hash(key) & 0xFFFFFFFF
        return (h ^ (h >> 16)) & (capacity - 1)

    unique = list(dict.fromkeys(keys))
    return tuple(sorted(unique, key=lambda k: (bucket(k), unique.index(k))))
