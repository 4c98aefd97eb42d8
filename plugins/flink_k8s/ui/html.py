"""Server-rendered HTML of the Flink page and its redeploy form (pure: rows and specs in, a string out).

No front-end build: one table, a little CSS, and a few lines of JavaScript in the redeploy form (it posts the
form to Airflow's own REST API with the user's session, so Airflow's permissions and Params validation apply;
the page itself only reads). Every value is HTML-escaped.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from html import escape
from typing import Any
from urllib.parse import quote

from flink_k8s.core.form_params import SECTIONS
from flink_k8s.core.jobs_view import JobRow

VERDICT_COLOURS = {"HEALTHY": "#1a7f37", "DEGRADED": "#b35900", "UNHEALTHY": "#cf222e", "MISSING": "#6e40c9"}
REDEPLOY_DAG = "flink_streaming_redeploy"

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:16px;color:#1f2328;font-size:14px}
h1{font-size:20px;margin:0 0 4px}.sub{color:#59636e;margin-bottom:12px}
table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid #d1d9e0;padding:6px 8px;vertical-align:top;
text-align:left}th{background:#f6f8fa;font-weight:600;position:sticky;top:0}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;color:#fff;font-weight:600;font-size:12px}
.state{font-weight:600}.muted{color:#59636e;font-size:12px}.warn{color:#b35900}.err{color:#cf222e}
ul{margin:2px 0;padding-left:16px}code{font-size:12px;word-break:break-all}
a.button,button{display:inline-block;background:#0969da;color:#fff;border:0;border-radius:6px;padding:5px 12px;
text-decoration:none;font-weight:600;cursor:pointer}button[disabled]{background:#8c959f}
tr.error td{background:#fff5f5}.summary span{margin-right:12px}
fieldset{border:1px solid #d1d9e0;border-radius:6px;margin:0 0 12px;padding:8px 12px}legend{font-weight:600}
.field{margin:8px 0}.field label{display:block;font-weight:600}.field .help{color:#59636e;font-size:12px;margin:2px 0}
input[type=text],input[type=number],select{width:100%;max-width:560px;padding:5px;font-size:14px}
.danger label{color:#cf222e}#result{margin-top:12px;font-weight:600}
"""


def _e(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def age_words(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.1f} h ago"


def _when(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S UTC") if at else "-"


def _badge(verdict: str | None) -> str:
    if verdict is None:
        return '<span class="muted">-</span>'
    return f'<span class="badge verdict" style="background:{VERDICT_COLOURS.get(verdict, "#59636e")}">{_e(verdict)}</span>'


def run_url(base: str, dag_id: str, run_id: str) -> str:
    return f"{base}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"


def _page(title: str, body: str, refresh: int | None = None) -> str:
    meta = f'<meta http-equiv="refresh" content="{int(refresh)}">' if refresh else ""
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">{meta}<title>{_e(title)}</title>'
            f"<style>{_CSS}</style></head><body>{body}</body></html>")


def _release_cell(row: JobRow) -> str:
    if row.kind != "streaming":
        return f'<div class="muted">image <code>{_e(row.image_catalogue)}</code></div>'
    if row.image_running is None:
        return f'<span class="muted">nothing running</span><div class="muted">catalogue <code>{_e(row.image_catalogue)}</code></div>'
    release = (f'<span class="state release">{_e(row.release_running)}</span>' if row.release_running
               else '<span class="warn">unknown</span>')
    drift = ("" if row.image_matches_catalogue else
             '<div class="warn">running image is not from the catalogue\'s template</div>')
    return (f"{release}<div class=\"muted\">running <code>{_e(row.image_running)}</code></div>"
            f'<div class="muted">catalogue <code>{_e(row.image_catalogue)}</code></div>{drift}')


def _health_cell(row: JobRow) -> str:
    reasons = "".join(f'<li class="muted" title="{_e(r.code)}">{_e(r.message)}</li>' for r in row.reasons)
    figures = "".join(f'<div class="muted figure" title="{_e(f.key)}">{_e(f.text)}</div>' for f in row.figures)
    return _badge(row.verdict) + (f"<ul>{reasons}</ul>" if reasons else "") + figures


def _savepoints_cell(row: JobRow) -> str:
    if not row.savepoints:
        return '<span class="muted">none recorded</span>'
    items = "".join(f'<li><code>{_e(s.path)}</code> <span class="muted">{_e(_when(s.recorded_at)) if s.recorded_at else "latest in Flink"}</span></li>'
                    for s in row.savepoints[:3])
    more = f'<div class="muted">+{len(row.savepoints) - 3} older</div>' if len(row.savepoints) > 3 else ""
    return f"<ul>{items}</ul>{more}"


def _redeploy_cell(row: JobRow, base: str) -> str:
    if not row.redeployable:
        dag = row.extra.get("dag_id", "")
        return f'<a target="_top" href="{_e(base)}/dags/{_e(quote(dag, safe=""))}">{_e(dag)}</a>' if dag else ""
    last = ""
    if row.last_redeploy:
        r = row.last_redeploy
        link = (f'<a target="_top" href="{_e(r.url)}">{_e(r.state)}</a>' if r.url else _e(r.state))
        last = (f'<div class="muted last-redeploy">last redeploy: {link}'
                f'{" (release " + _e(r.release) + ")" if r.release else ""} {_e(_when(r.started_at))}</div>')
    return (f'<a class="button redeploy" data-job="{_e(row.name)}" href="redeploy/{_e(quote(row.name, safe=""))}">'
            f"Redeploy</a>{last}")


def _row(row: JobRow, base: str) -> str:
    ui = (f' <a class="muted" href="{_e(row.flink_ui_url)}" target="_blank" rel="noopener">Flink UI</a>'
          if row.flink_ui_url else "")
    error = f'<div class="err">{_e(row.error)}</div>' if row.error else ""
    checkpoint = ("-" if row.kind != "streaming" else
                  f'{_e(row.last_checkpoint_id) if row.last_checkpoint_id is not None else "none"}'
                  f'<div class="muted">{_e(age_words(row.last_checkpoint_age_s))}</div>')
    description = f'<div class="muted">{_e(row.description)}</div>' if row.description else ""
    kind = _e(row.kind) + (f" · {_e(row.upgrade_mode)}" if row.upgrade_mode else "") + (
        f" · {_e(row.schedule)}" if row.schedule else "")
    return (
        f'<tr class="job{" error" if row.error else ""}" data-job="{_e(row.name)}" data-verdict="{_e(row.verdict)}">'
        f'<td><b>{_e(row.name)}</b><div class="muted">{kind}</div>{description}</td>'
        f'<td><code>{_e(row.cluster_id)}</code><div class="muted">ns {_e(row.namespace)} · Flink '
        f"{_e(row.flink_version)}</div>{ui}</td>"
        f'<td><span class="state live-state">{_e(row.state)}</span><div class="muted">JobManager '
        f'{_e(row.jobmanager)}</div><div class="muted">{_e(row.pods)}</div>{error}</td>'
        f"<td>{_release_cell(row)}</td><td>{_health_cell(row)}</td><td>{checkpoint}</td>"
        f"<td>{_savepoints_cell(row)}</td><td>{_redeploy_cell(row, base)}</td></tr>")


def jobs_page(rows: Sequence[JobRow], *, generated_at: datetime, refresh: int, timeout: float, base: str,
              summary: Mapping[str, int]) -> str:
    """The Flink page: one table of every catalogue job. `base` is Airflow's URL path prefix ('' at the root)."""
    counts = "".join(f'<span>{_badge(v)} {n}</span>' for v, n in summary.items() if n)
    body = (
        '<h1>Flink jobs</h1><div class="sub">'
        f"{len(rows)} jobs of the catalogue · observed {_e(_when(generated_at))} · refreshes every {refresh} s · "
        f"each cluster answers within {timeout:g} s or is shown as an error · "
        f'<a href="api/jobs">JSON</a></div><div class="summary">{counts}</div>'
        "<table><thead><tr><th>Job</th><th>Cluster</th><th>Live state</th><th>Release</th><th>Health</th>"
        "<th>Last checkpoint</th><th>Savepoints</th><th></th></tr></thead><tbody>"
        + "".join(_row(r, base) for r in rows)
        + "</tbody></table>")
    return _page("Flink jobs", body, refresh)


# -- the redeploy form ---------------------------------------------------------------------------------------

def _input(name: str, spec: Mapping[str, Any], value: Any) -> str:
    types = spec["type"] if isinstance(spec["type"], list) else [spec["type"]]
    attrs = f'id="f-{_e(name)}" name="{_e(name)}" data-types="{_e(",".join(types))}"'
    if "enum" in spec:
        labels = spec.get("values_display") or {}
        options = []
        for choice in spec["enum"]:
            key = "null" if choice is None else str(choice)
            selected = " selected" if choice == value else ""
            options.append(f'<option value="{_e("" if choice is None else choice)}"{selected}>'
                           f"{_e(labels.get(key, key))}</option>")
        return f"<select {attrs}>{''.join(options)}</select>"
    if "boolean" in types:
        return f'<input type="checkbox" {attrs}{" checked" if value else ""}>'
    if "integer" in types:
        bounds = "".join(f' {k[:3]}="{spec[k]}"' for k in ("minimum", "maximum") if k in spec)
        return f'<input type="number" {attrs}{bounds} value="{_e(value)}">'
    return f'<input type="text" {attrs} value="{_e(value)}">'


_FORM_JS = """
const dagId = %(dag)s, api = %(api)s, ui = %(ui)s;
const out = document.getElementById('result');
function value(el) {
  const types = el.dataset.types.split(',');
  if (el.type === 'checkbox') return el.checked;
  if (el.value === '') return types.includes('null') ? null : '';
  if (types.includes('integer')) return parseInt(el.value, 10);
  return el.value;
}
async function call(method, path, body) {
  const resp = await fetch(api + path, {method, credentials: 'same-origin',
    headers: {'Content-Type': 'application/json', 'Accept': 'application/json'},
    body: body === undefined ? undefined : JSON.stringify(body)});
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new Error(resp.status + ': ' + (typeof data.detail === 'string' ? data.detail
                                                     : JSON.stringify(data.detail || data)));
  return data;
}
async function follow(runId) {
  const link = ui + '/dags/' + encodeURIComponent(dagId) + '/runs/' + encodeURIComponent(runId);
  for (;;) {
    let state = '?';
    try { state = (await call('GET', '/dags/' + encodeURIComponent(dagId) + '/dagRuns/' +
                              encodeURIComponent(runId))).state; } catch (e) { state = 'unknown (' + e.message + ')'; }
    out.innerHTML = '';
    const a = document.createElement('a'); a.href = link; a.target = '_top'; a.textContent = runId;
    const s = document.createElement('span'); s.className = 'run-state'; s.textContent = state;
    out.append('Run ', a, ': ', s);
    if (state === 'success' || state === 'failed') return;
    await new Promise(r => setTimeout(r, 3000));
  }
}
document.getElementById('redeploy-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const button = document.getElementById('trigger'); button.disabled = true;
  const conf = {};
  for (const el of document.querySelectorAll('[data-types]')) conf[el.name] = value(el);
  try {
    const dag = await call('GET', '/dags/' + encodeURIComponent(dagId));
    if (dag.is_paused) {
      if (!document.getElementById('unpause').checked) throw new Error('the DAG ' + dagId + ' is paused');
      await call('PATCH', '/dags/' + encodeURIComponent(dagId), {is_paused: false});
    }
    const run = await call('POST', '/dags/' + encodeURIComponent(dagId) + '/dagRuns', {logical_date: null, conf});
    await follow(run.dag_run_id);
  } catch (e) {
    out.textContent = 'Not triggered: ' + e.message; out.className = 'err'; button.disabled = false;
  }
});
"""


def redeploy_form(job: str, specs: Mapping[str, Mapping[str, Any]], row: JobRow | None, *, base: str) -> str:
    """Airflow's trigger form of `flink_streaming_redeploy`, pre-filled with `job`, with the same titles,
    descriptions and sections as the DAG's Params; the running release is shown next to the release field."""
    values = {name: spec.get("default") for name, spec in specs.items()}
    values["job"] = job
    running = ""
    if row is not None:
        running = (f"Running now: release <b class=\"running-release\">{_e(row.release_running or 'unknown')}</b> "
                   f"(<code>{_e(row.image_running or 'nothing running')}</code>), {_e(row.state)}, "
                   f"{_badge(row.verdict)}")
    sections: dict[str, list[str]] = {s: [] for s in SECTIONS}
    for name, spec in specs.items():
        danger = " danger" if name == "allow_state_loss" else ""
        hint = f'<div class="help current">{running}</div>' if name == "release" and running else ""
        sections.setdefault(spec.get("section", ""), []).append(
            f'<div class="field{danger}"><label for="f-{_e(name)}">{_e(spec.get("title", name))}</label>'
            f'<div class="help">{_e(spec.get("description", ""))}</div>{hint}{_input(name, spec, values[name])}</div>')
    fieldsets = "".join(f"<fieldset><legend>{_e(section)}</legend>{''.join(fields)}</fieldset>"
                        for section, fields in sections.items() if fields)
    script = _FORM_JS % {"dag": json.dumps(REDEPLOY_DAG), "api": json.dumps(f"{base}/api/v2"),
                         "ui": json.dumps(base)}
    body = (
        f'<h1>Redeploy {_e(job)}</h1><div class="sub"><a href="../">← Flink jobs</a> · triggers the DAG '
        f'<a target="_top" href="{_e(base)}/dags/{REDEPLOY_DAG}">{REDEPLOY_DAG}</a>; its validate task checks '
        "every value again before anything is touched.</div>"
        f'<form id="redeploy-form">{fieldsets}'
        '<div class="field"><label><input type="checkbox" id="unpause" checked> Unpause the DAG if it is paused'
        '</label></div><button id="trigger" type="submit">Trigger redeploy</button></form>'
        f'<div id="result"></div><script>{script}</script>')
    return _page(f"Redeploy {job}", body)


def message_page(title: str, message: str, link: tuple[str, str] | None = None) -> str:
    extra = f' <a target="_top" href="{_e(link[1])}">{_e(link[0])}</a>' if link else ""
    return _page(title, f"<h1>{_e(title)}</h1><p>{_e(message)}{extra}</p>")


def jobs_json_doc(rows: Iterable[dict], *, generated_at: datetime, timeout: float) -> dict:
    rows = list(rows)
    return {"generated_at": generated_at.isoformat(), "timeout_s": timeout, "count": len(rows), "jobs": rows}
