"""Typed errors shared by the pure core.

Every problem names the job, the field, the value seen and the rule it broke, so one message is
enough to fix the catalogue; validation collects them all instead of stopping at the first.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

_MAX_SHOWN_VALUE = 80


def show_value(value: object) -> str:
    """A short, single-line, escaped rendering of a user value (hostile input stays harmless)."""
    try:
        text = repr(value)
    except ValueError:  # e.g. an int beyond Python's 4300-digit str() limit
        text = f"<{type(value).__name__} too large to show>"
    if len(text) > _MAX_SHOWN_VALUE:
        text = text[: _MAX_SHOWN_VALUE - 3] + "..."
    return text


@dataclass(frozen=True)
class Problem:
    """One broken rule: where (job, dotted field path), what (value) and why (rule)."""

    job: str | None
    field: str
    value: object
    rule: str

    def __str__(self) -> str:
        where = f"job {self.job!r}" if self.job else "catalogue"
        return f"{where}: {self.field} = {show_value(self.value)}: {self.rule}"


class FlinkK8sError(Exception):
    """Base of every error raised by flink_k8s.core."""


class ValidationError(FlinkK8sError, ValueError):
    """Catalogue (or render input) is invalid; carries every problem found, not only the first."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems: list[Problem] = list(problems)
        count = len(self.problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{count} problem{'s' if count != 1 else ''}:\n{lines}")


class CatalogueLoadError(ValidationError):
    """The catalogue file itself cannot be read safely (size, encoding, YAML syntax, duplicate keys…)."""


class UnsupportedFlinkVersionError(FlinkK8sError, ValueError):
    """A Flink version outside the supported table; the message lists what is supported."""

    def __init__(self, version: object, supported: Iterable[str]):
        self.version = version
        self.supported = tuple(supported)
        super().__init__(
            f"flink_version = {show_value(version)}: unsupported Flink version; "
            f"supported: {', '.join(self.supported)}"
        )


class UnknownJobError(FlinkK8sError, KeyError):
    """A job name that is not in the catalogue (with the closest names as suggestions)."""

    def __init__(self, name: str, known: Iterable[str], suggestions: Iterable[str] = ()):
        self.name = name
        self.known = tuple(known)
        hint = list(suggestions)
        msg = f"job {show_value(name)} is not in the catalogue (jobs: {', '.join(self.known) or 'none'})"
        if hint:
            msg += f"; did you mean {', '.join(repr(h) for h in hint)}?"
        self.message = msg
        super().__init__(msg)

    def __str__(self) -> str:  # KeyError would repr() the message
        return self.message
