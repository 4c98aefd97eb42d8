"""Plain-text tables of a redeploy plan or of health verdicts, for task logs (pure, no I/O)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from flink_k8s.core.health import HealthReport
from flink_k8s.core.redeploy import RedeployPlan


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], max_width: int = 100) -> str:
    """Left-aligned columns separated by two spaces; cells are single-line and cut at `max_width`."""
    cells = [[_cell(v, max_width) for v in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)


def render_plan(plan: RedeployPlan) -> str:
    """Header lines (cluster, mode, restore, safety, notes), then one row per step."""
    mode = plan.mode.value if plan.effective_mode == plan.mode else f"{plan.mode.value} -> {plan.effective_mode.value}"
    head = [f"redeploy plan for cluster {plan.cluster_id}: mode {mode}, restore {plan.restore.value}, "
            f"{plan.safety.value}"]
    head += [f"  note: {n}" for n in plan.notes]
    rows = [(i, s.kind.value, s.detail) for i, s in enumerate(plan.steps, 1)]
    return "\n".join(head) + "\n" + table(("#", "step", "detail"), rows)


def render_verdicts(reports: Iterable[tuple[str, HealthReport]]) -> str:
    """One row per job: job name, cluster id, verdict, every finding and the figures it was decided on."""
    rows = [(job, r.cluster_id, r.verdict.name, r.summary) for job, r in reports]
    return table(("job", "cluster", "verdict", "reasons"), rows, max_width=400)


def _cell(value: object, max_width: int) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= max_width else text[: max_width - 3] + "..."
