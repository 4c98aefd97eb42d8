"""Batch schedules: what Airflow 3 accepts for `schedule=` (presets and 5-field cron), checked
without importing Airflow or croniter so the core stays dependency-free."""

from __future__ import annotations

import re

from flink_k8s.core.validation import Invalid

AIRFLOW_PRESETS = ("@once", "@continuous", "@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly", "@annually")
_CRON_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 7))
_CRON_NAMES = {
    3: {n: i + 1 for i, n in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split())},
    4: {n: i for i, n in enumerate("sun mon tue wed thu fri sat".split())},
}
_CRON_ITEM = re.compile(r"(\*|[0-9a-zA-Z]+(?:-[0-9a-zA-Z]+)?)(?:/([0-9]+))?")


def schedule(value: object) -> str:
    """A 5-field cron expression or an Airflow preset (what Airflow 3 accepts for `schedule=`)."""
    if not isinstance(value, str):
        raise Invalid("must be a cron expression or an Airflow preset such as @daily")
    text = value.strip()
    if not text or len(text) > 128:
        raise Invalid("must be a cron expression or an Airflow preset such as @daily")
    if text.startswith("@"):
        if text not in AIRFLOW_PRESETS:
            raise Invalid(f"unknown preset; use one of {', '.join(AIRFLOW_PRESETS)}")
        return text
    fields = text.split()
    if len(fields) != 5:
        raise Invalid("cron needs 5 fields: minute hour day-of-month month day-of-week")
    for index, (field, (name, low, high)) in enumerate(zip(fields, _CRON_FIELDS, strict=True)):
        for item in field.split(","):
            match = _CRON_ITEM.fullmatch(item)
            if not match:
                raise Invalid(f"cron {name} field {field!r} is not valid")
            if match.group(2) is not None and int(match.group(2)) == 0:
                raise Invalid(f"cron {name} step must be > 0")
            if match.group(1) == "*":
                continue
            for bound in match.group(1).split("-"):
                number = _CRON_NAMES.get(index, {}).get(bound.lower()) if not bound.isdigit() else int(bound)
                if number is None or not (low <= number <= high):
                    raise Invalid(f"cron {name} value {bound!r} outside {low}-{high}")
    return text
