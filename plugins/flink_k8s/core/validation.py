"""Value rules for the catalogue: small pure checkers, each returning the normalized value or raising
`Invalid(rule)` with a rule a user can act on. Sources of each rule are named next to it.

The general argv rule (`argv_safe`) applies to every string that can reach the Flink command line:
printable ASCII, no whitespace or control characters, no shell metacharacters, bounded length, no
leading '-'. We never use a shell, but the plan output is meant to be copy-pasted and logged, and a
value that needs quoting is a value nobody reviewed.
"""

from __future__ import annotations

import re

MAX_VALUE_LEN = 1024
SHELL_META = frozenset("`$&|;<>()\\'\"*?[]!{}~#")
# '#' also starts a comment in Flink 1.x's flink-conf.yaml parser, which would truncate the value.


_ARGV_SAFE = re.compile("[" + "".join(re.escape(chr(c)) for c in range(0x21, 0x7F) if chr(c) not in SHELL_META) + "]+")


class Invalid(ValueError):
    """A value broke a rule; the message is the rule."""


def argv_safe(value: object, *, allow_leading_dash: bool = False, max_len: int = MAX_VALUE_LEN) -> str:
    """The general rule for any string that reaches argv (see module docstring)."""
    if not isinstance(value, str):
        raise Invalid(f"must be a string, got {type(value).__name__}")
    if not value:
        raise Invalid("must not be empty")
    if len(value) > max_len:
        raise Invalid(f"longer than {max_len} characters")
    if _ARGV_SAFE.fullmatch(value):  # fast path; the loop below only explains a refusal
        if value[0] == "-" and not allow_leading_dash:
            raise Invalid("must not start with '-' (it would be read as a command-line option)")
        return value
    for ch in value:
        if not ("!" <= ch <= "~"):
            raise Invalid(
                "only printable ASCII without whitespace or control characters may reach the command line"
                f" (found {ch!r})"
            )
        if ch in SHELL_META:
            raise Invalid(f"shell metacharacter {ch!r} is not allowed in values that reach the command line")
    if value[0] == "-" and not allow_leading_dash:
        raise Invalid("must not start with '-' (it would be read as a command-line option)")
    return value


def pattern(value: object, regex: re.Pattern[str], rule: str, max_len: int = MAX_VALUE_LEN) -> str:
    text = argv_safe(value, max_len=max_len)
    if not regex.fullmatch(text):
        raise Invalid(rule)
    return text


# --- Kubernetes names -------------------------------------------------------------------------
_DNS1035 = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
# Flink: org.apache.flink.kubernetes.utils.Constants.MAXIMUM_CHARACTERS_OF_CLUSTER_ID = 45
# (checked in flink-dist 1.15.2 and 2.3.0); the cluster id also names Services/ConfigMaps.
MAX_CLUSTER_ID = 45


def cluster_id(value: object) -> str:
    text = argv_safe(value, max_len=MAX_VALUE_LEN)
    if len(text) > MAX_CLUSTER_ID:
        raise Invalid(f"longer than Flink's limit of {MAX_CLUSTER_ID} characters (Constants.MAXIMUM_CHARACTERS_OF_CLUSTER_ID)")
    if not _DNS1035.fullmatch(text):
        raise Invalid("must be a DNS-1035 label: lowercase letters, digits and '-', starting with a letter, not ending with '-'")
    return text


def dns1123_label(value: object) -> str:
    text = argv_safe(value)
    if len(text) > 63 or not _DNS1123_LABEL.fullmatch(text):
        raise Invalid("must be a DNS-1123 label (lowercase alphanumerics and '-', at most 63 characters)")
    return text


def dns1123_subdomain(value: object) -> str:
    text = argv_safe(value)
    if len(text) > 253 or not _DNS1123_SUBDOMAIN.fullmatch(text):
        raise Invalid("must be a DNS-1123 subdomain (lowercase alphanumerics, '-' and '.', at most 253 characters)")
    return text


_LABEL_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")


def label_key(value: object) -> str:
    """Kubernetes label key: optional DNS subdomain prefix + '/' + name (<= 63)."""
    text = argv_safe(value)
    prefix, _, name = text.rpartition("/")
    if "/" in text and not prefix:
        raise Invalid("label key prefix before '/' must not be empty")
    if prefix:
        if len(prefix) > 253 or not _DNS1123_SUBDOMAIN.fullmatch(prefix):
            raise Invalid("label key prefix must be a DNS-1123 subdomain")
    if len(name) > 63 or not _LABEL_NAME.fullmatch(name):
        raise Invalid("label key name must be <= 63 characters of alphanumerics, '-', '_' or '.', alphanumeric at both ends")
    return text


def label_value(value: object) -> str:
    if isinstance(value, bool | int | float):
        raise Invalid("label values must be strings (quote numbers and booleans)")
    text = argv_safe(value)
    if len(text) > 63 or not _LABEL_NAME.fullmatch(text):
        raise Invalid("label value must be 1-63 characters of alphanumerics, '-', '_' or '.', alphanumeric at both ends")
    return text


def node_selector(value: object) -> dict[str, str]:
    """Mapping of label key -> value; Flink renders it as `k1:v1,k2:v2` (ConfigOptions mapType)."""
    if not isinstance(value, dict):
        raise Invalid("must be a mapping of label key to label value")
    if not value:
        raise Invalid("must not be empty (leave the field out instead)")
    if len(value) > 32:
        raise Invalid("at most 32 labels")
    result = {}
    for key, val in value.items():
        try:
            result[label_key(key)] = label_value(val)
        except Invalid as exc:
            raise Invalid(f"label {key!r}: {exc}") from None
    return result


# --- numbers ------------------------------------------------------------------------------------
def positive_int(value: object, maximum: int = 1_000_000) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid("must be an integer")
    if value < 1 or value > maximum:
        raise Invalid(f"must be between 1 and {maximum}")
    return value


def non_negative_int(value: object, maximum: int = 1_000_000) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid("must be an integer")
    if value < 0 or value > maximum:
        raise Invalid(f"must be between 0 and {maximum}")
    return value


def cpu(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Invalid("must be a number of CPU cores")
    number = float(value)
    if not (number > 0) or number > 1024 or number != number:
        raise Invalid("must be > 0 and <= 1024 cores")
    return number


def fraction(value: object) -> float:
    """Flink memory fractions are checked as [0, 1) (TaskExecutorFlinkMemoryUtils / MemoryBackwardsCompatibilityUtils)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Invalid("must be a number in [0, 1)")
    number = float(value)
    if not (0 <= number < 1):
        raise Invalid("must be in [0, 1)")
    return number


def boolean(value: object) -> bool:
    if not isinstance(value, bool):
        raise Invalid("must be true or false")
    return value


# --- sizes and durations --------------------------------------------------------------------------
# Flink MemorySize.MemoryUnit: b|bytes, k|kb|kibibytes, m|mb|mebibytes, g|gb|gibibytes, t|tb|tebibytes,
# case-insensitive, digits only (no decimals), no unit = bytes. We additionally require a unit and no
# inner whitespace (argv rule).
_MEMORY_UNITS = {
    "b": 1, "bytes": 1,
    "k": 1 << 10, "kb": 1 << 10, "kibibytes": 1 << 10,
    "m": 1 << 20, "mb": 1 << 20, "mebibytes": 1 << 20,
    "g": 1 << 30, "gb": 1 << 30, "gibibytes": 1 << 30,
    "t": 1 << 40, "tb": 1 << 40, "tebibytes": 1 << 40,
}  # fmt: skip
_MEMORY = re.compile(r"([0-9]{1,15})([A-Za-z]+)")
MAX_MEMORY = 1 << 40  # 1 TiB per process is far beyond any real pod


def memory_size(value: object) -> str:
    """Returns the text unchanged (Flink parses it); raises unless it is a Flink MemorySize with a unit."""
    if isinstance(value, int) and not isinstance(value, bool):
        raise Invalid("needs a unit, e.g. '4096m' (Flink reads a bare number as bytes)")
    text = argv_safe(value, max_len=32)
    match = _MEMORY.fullmatch(text)
    if not match or match.group(2).lower() not in _MEMORY_UNITS:
        raise Invalid("must be a Flink memory size: digits then a unit b|k|kb|m|mb|g|gb|t|tb (e.g. 700mb, 4g)")
    size = memory_bytes(text)
    if size <= 0 or size > MAX_MEMORY:
        raise Invalid("must be > 0 and <= 1t")
    return text


def memory_bytes(text: str) -> int:
    match = _MEMORY.fullmatch(text)
    if not match:
        raise Invalid("not a memory size")
    return int(match.group(1)) * _MEMORY_UNITS[match.group(2).lower()]


# Flink TimeUtils.parseDuration accepts these labels (and more); a bare number means MILLISECONDS,
# which is why the seed's `interval=60` was 60 ms — we require a unit.
_DURATION_UNITS = {"ms": 0.001, "s": 1, "min": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"([0-9]{1,9})(ms|s|min|h|d)")


def duration(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        raise Invalid("needs a unit, e.g. '60s' (Flink reads a bare number as milliseconds)")
    text = argv_safe(value, max_len=16)
    if not _DURATION.fullmatch(text):
        raise Invalid("must be a duration: digits then ms|s|min|h|d (e.g. 60s, 10min)")
    if duration_seconds(text) <= 0:
        raise Invalid("must be > 0")
    return text


def duration_seconds(text: str) -> float:
    match = _DURATION.fullmatch(text)
    if not match:
        raise Invalid("not a duration")
    return int(match.group(1)) * _DURATION_UNITS[match.group(2)]


# --- Java, Flink keys, Airflow ----------------------------------------------------------------------
_JAVA_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_JAVA_CLASS = re.compile(rf"(?:{_JAVA_IDENT}\.)*{_JAVA_IDENT}", re.ASCII)


def java_class(value: object) -> str:
    return pattern(value, _JAVA_CLASS, "must be a fully qualified Java class name (e.g. com.example.Main; no '$')", 512)


_FLINK_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*", re.ASCII)


def flink_key(value: object) -> str:
    if not isinstance(value, str):
        raise Invalid("keys must be strings")
    text = argv_safe(value, max_len=256)
    if not _FLINK_KEY.fullmatch(text) or ".." in text or text.endswith("."):
        raise Invalid("a Flink configuration key is letters, digits, '.', '_' and '-' (no '=', no empty segments)")
    return text


def flink_value(value: object) -> str:
    """A `-Dkey=value` value: scalars only; booleans rendered as Flink reads them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        if isinstance(value, float) and value != value:
            raise Invalid("NaN is not a value")
        return str(value)
    if not isinstance(value, str):
        raise Invalid("must be a string, number or boolean")
    return argv_safe(value)


_CONN_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,249}", re.ASCII)


def conn_id(value: object) -> str:
    return pattern(value, _CONN_ID, "an Airflow connection id is letters, digits, '_', '.' and '-'", 250)


_PUSHGATEWAY_JOB = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", re.ASCII)


def pushgateway_job_name(value: object) -> str:
    return pattern(value, _PUSHGATEWAY_JOB, "1-64 characters of letters, digits, '_', '.' and '-'", 64)
