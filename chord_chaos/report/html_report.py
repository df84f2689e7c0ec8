"""``report.html``: one self-contained page (inline CSS and SVG, no network; one line of script
copies the canvas's code) that a person would rather look at than read: the verdict, a
timeline with one lane per worker process and one for the client, fault windows shaded, the
violating tasks in red, the canvas drawn as a tree with the same highlighting, and the canvas as
the Celery code that builds it."""

from __future__ import annotations

import html
import json
from typing import Any

from chord_chaos.check.history import History
from chord_chaos.check.lost_messages import lost_messages
from chord_chaos.models.canvas import CanvasError, parse_workload
from chord_chaos.models.python_code import to_python

VIOLATION = "#d62728"
FAULT = "#fdd49e"
BAR = "#4c78a8"
KNOWN = "#9467bd"
LANE_H = 28
LEFT = 190
WIDTH = 1000

CSS = f"""
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; }}
h1 {{ font-size: 20px; margin: 0 0 8px; }} h2 {{ font-size: 16px; margin: 24px 0 8px; }}
.verdict {{ display: inline-block; padding: 2px 10px; border-radius: 4px; color: #fff; font-weight: 600; }}
.violation {{ background: {VIOLATION}; }} .pass {{ background: #2ca02c; }} .unknown {{ background: #7f7f7f; }}
.box {{ border-left: 6px solid {VIOLATION}; background: #fdecea; padding: 8px 12px; margin: 6px 0; }}
.known {{ border-left-color: {KNOWN}; background: #f3eefa; }}
.anomaly {{ border-left-color: #ff7f0e; background: #fff4e5; }}
.landing {{ border-left-color: #999; background: #f4f4f4; }}
code, pre {{ font: 12px/1.4 ui-monospace, monospace; background: #f6f6f6; padding: 1px 4px; }}
pre {{ padding: 8px; overflow-x: auto; }}
table.meta td {{ padding: 1px 12px 1px 0; vertical-align: top; }}
ul.tree {{ list-style: none; padding-left: 18px; margin: 0; border-left: 1px dotted #bbb; }}
ul.tree > li {{ margin: 2px 0; }}
.node {{ padding: 0 4px; border-radius: 3px; }}
.node.bad {{ background: {VIOLATION}; color: #fff; font-weight: 600; }}
.kind {{ color: #777; }}
"""


def render_html(report: dict[str, Any]) -> str:
    verdict = report["verdict"]
    bad_nodes = {v.get("node") for v in verdict.get("violations", []) if v.get("node")}
    title = f"chord-chaos {verdict['verdict']}: {report.get('scenario') or 'run'} on {report['backend']}"
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body>",
        f"<h1><span class='verdict {_e(verdict['verdict'])}'>{_e(verdict['verdict'])}</span> "
        f"{_e(report.get('scenario') or 'chord-chaos run')} "
        f"<span class='kind'>{_e(report['backend'])} backend, {_e(report['delivery'])}</span></h1>",
        _findings(verdict),
        "<h2>Timeline</h2>", _timeline(report, bad_nodes),
        "<h2>Canvas</h2>", _tree(report["canvas"], bad_nodes), _code(report["canvas"]),
        "<h2>Outcome</h2>", _outcome(report), _messages(report["history"]),
        "<h2>Fault plan</h2>", f"<pre>{_e(json.dumps(report['plan'], indent=1))}</pre>",
        "<h2>Reproduce</h2>", _reproduce(report),
        "<h2>History</h2>", _events(report["history"]),
        "</body></html>",
    ]
    return "\n".join(parts)


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _findings(verdict: dict[str, Any]) -> str:
    out = [f"<div class='box'>{_e(v['check'])}: {_e(v['message'])}</div>"
           for v in verdict.get("violations", [])]
    out += [f"<div class='box'>unknown: {_e(r)}</div>" for r in verdict.get("unknown_reasons", [])]
    out += [f"<div class='box known'>known issue <b>{_e(k['issue'])}</b>: {_e(k['message'])}</div>"
            for k in verdict.get("known_issues", [])]
    out += [f"<div class='box anomaly'>anomaly ({_e(a['property'])}, not promised): {_e(a['message'])}</div>"
            for a in verdict.get("anomalies", [])]
    out += [f"<div class='box anomaly'>relaxed by <b>{_e(r['setting'])}</b> ({_e(', '.join(r['relaxes']))} "
            f"not checked): {_e(r['why'])}</div>" for r in verdict.get("relaxed", [])]
    if verdict.get("unmodelled_settings"):
        out.append("<div class='box anomaly'>not modelled (applied, so a pass says nothing about "
                   f"them): {_e(', '.join(verdict['unmodelled_settings']))}</div>")
    out += [f"<div class='box landing'>fault {_e(x['fault'])} ({_e(x['kind'])}) <b>{_e(x['outcome'])}</b>: "
            f"{_e(x['evidence'])}</div>" for x in verdict.get("landings", [])]
    return "\n".join(out) or "<p>No findings.</p>"


def _executions(events: list[dict[str, Any]], t0: int) -> list[dict[str, Any]]:
    """Start/end pairs per (node, pid, attempt), in seconds after submission."""
    open_: dict[tuple[str, int, int], dict[str, Any]] = {}
    bars: list[dict[str, Any]] = []
    for e in sorted(events, key=lambda e: e["mono"]):
        key = (e["node"], e["pid"], e.get("attempt", 0))
        t = (e["mono"] - t0) / 1e9
        if e["ev"] == "start":
            bar = {"node": e["node"], "lane": f"{e['hostname'].partition('@')[0]} pid {e['pid']}",
                   "start": t, "end": None, "outcome": None}
            open_[key] = bar
            bars.append(bar)
        elif key in open_:
            open_.pop(key).update(end=t, outcome=e.get("outcome"))
    return bars


def _timeline(report: dict[str, Any], bad_nodes: set[Any]) -> str:
    h = report["history"]
    events = h.get("events", [])
    t0 = int(h.get("meta", {}).get("t0_mono_ns") or min((e["mono"] for e in events), default=0))
    bars = _executions(events, t0)
    client = h["client"]
    faults = [r for r in h.get("nemesis", []) if r.get("applied") is not None]
    span = max([client.get("elapsed") or 0.0, *(b["end"] or b["start"] for b in bars),
                *(r.get("healed") or r["applied"] for r in faults), 0.1])
    lanes = ["client", *sorted({b["lane"] for b in bars})]
    scale = WIDTH / span
    height = LANE_H * (len(lanes) + 1) + 20
    svg = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{LEFT + WIDTH + 20}' height='{height}' "
           "font-family='system-ui, sans-serif' font-size='11'>"]
    for r in faults:  # shaded behind everything
        x = LEFT + r["applied"] * scale
        w = max(2.0, ((r.get("healed") or span) - r["applied"]) * scale)
        svg.append(f"<rect x='{x:.1f}' y='0' width='{w:.1f}' height='{height - 20}' fill='{FAULT}' "
                   f"opacity='0.8'><title>{_e(r['kind'])} {_e(r['target'])}</title></rect>")
        svg.append(f"<text x='{x + 2:.1f}' y='{height - 6}' fill='#a6611a'>{_e(r['kind'])} "
                   f"{_e(','.join(r.get('resolved') or [r['target']]))}</text>")
    for i, lane in enumerate(lanes):
        y = LANE_H * i + 4
        svg.append(f"<text x='4' y='{y + 17}'>{_e(lane)}</text>")
        svg.append(f"<line x1='{LEFT}' x2='{LEFT + WIDTH}' y1='{y + LANE_H - 2}' y2='{y + LANE_H - 2}' "
                   "stroke='#eee'/>")
    status = client.get("status")
    cw = max(2.0, (client.get("elapsed") or span) * scale)
    svg.append(f"<rect x='{LEFT}' y='8' width='{cw:.1f}' height='{LANE_H - 10}' fill='#bbb'/>"
               f"<text x='{LEFT + 4}' y='21'>get() {_e(status)}</text>")
    for b in bars:
        y = LANE_H * lanes.index(b["lane"]) + 8
        x = LEFT + b["start"] * scale
        end = b["end"] if b["end"] is not None else span
        w = max(3.0, (end - b["start"]) * scale)
        bad = b["node"] in bad_nodes
        fill = VIOLATION if bad else BAR
        dash = " stroke-dasharray='4 2' stroke='#000'" if b["end"] is None else ""
        label = b["node"].removeprefix("$.") or "$"
        svg.append(f"<rect x='{x:.1f}' y='{y}' width='{w:.1f}' height='{LANE_H - 10}' fill='{fill}'"
                   f"{dash}><title>{_e(b['node'])} {_e(json.dumps(b['outcome']))}</title></rect>")
        svg.append(f"<text x='{x + 2:.1f}' y='{y + 13}' fill='#fff'>{_e(label[-28:])}</text>")
    axis_y = LANE_H * len(lanes) + 12
    for k in range(6):
        t = span * k / 5
        svg.append(f"<text x='{LEFT + t * scale - 8:.1f}' y='{axis_y}' fill='#777'>{t:.2f}s</text>")
    svg.append("</svg>")
    return "\n".join(svg)


def _tree(canvas: Any, bad_nodes: set[Any]) -> str:
    root = canvas.get("canvas", canvas) if isinstance(canvas, dict) else canvas
    return f"<ul class='tree'>{_node(root, '$', bad_nodes)}</ul>"


def _node(c: Any, path: str, bad: set[Any]) -> str:
    if not isinstance(c, dict):
        return f"<li>{_e(c)}</li>"
    cls = "node bad" if path in bad else "node"
    extras = ""
    for key in ("link", "link_error"):
        if key in c:
            inner = _node(c[key], f"{path}.{key}", bad)
            extras += f"<ul class='tree'><li><span class='kind'>{key}</span></li>{inner}</ul>"
    if "task" in c:
        sig = ".si" if c.get("immutable") else ".s"
        args = ", ".join(json.dumps(a) for a in c.get("args", []))
        return (f"<li><span class='{cls}'>{_e(c['task'])}{sig}({_e(args)})</span> "
                f"<span class='kind'>{_e(path)}</span>{extras}</li>")
    for kind in ("chain", "group"):
        if kind in c:
            items = "".join(_node(x, f"{path}.{kind}[{i}]", bad) for i, x in enumerate(c[kind]))
            return f"<li><span class='kind'>{kind}</span><ul class='tree'>{items}</ul>{extras}</li>"
    chord = c.get("chord", {})
    header = "".join(_node(x, f"{path}.chord.header[{i}]", bad)
                     for i, x in enumerate(chord.get("header", [])))
    body = _node(chord.get("body"), f"{path}.chord.body", bad)
    return (f"<li><span class='kind'>chord</span><ul class='tree'><li><span class='kind'>header</span>"
            f"<ul class='tree'>{header or '<li>(empty)</li>'}</ul></li><li><span class='kind'>body</span>"
            f"<ul class='tree'>{body}</ul></li></ul>{extras}</li>")


def _code(canvas: Any) -> str:
    """The canvas as Celery code (``predict --python``), with a button that copies it."""
    try:
        code = to_python(parse_workload(canvas))
    except CanvasError as exc:
        return f"<p>No Celery code for this canvas: {_e(exc)}</p>"
    return ("<h3>As Celery code <button onclick=\"navigator.clipboard.writeText("
            "document.getElementById('canvas-code').textContent)\">copy</button></h3>"
            f"<pre id='canvas-code'>{_e(code)}</pre><p>The tasks: <code>chord-chaos export "
            "report.json</code> writes them as plain Celery, with a script that reproduces this "
            "run.</p>")


def _outcome(report: dict[str, Any]) -> str:
    p, c = report["prediction"], report["history"]["client"]
    predicted = p.get("value") if p.get("status") == "SUCCESS" else p.get("error")
    observed = c.get("value") if c.get("status") == "SUCCESS" else c.get("error") or c.get("status")
    return (f"<table class='meta'><tr><td>predicted</td><td><code>{_e(p.get('status'))}</code> "
            f"<code>{_e(json.dumps(predicted))}</code></td></tr><tr><td>observed</td><td>"
            f"<code>{_e(c.get('status'))}</code> <code>{_e(json.dumps(observed))}</code> after "
            f"{_e(c.get('elapsed'))} s</td></tr></table>")


def _messages(history: dict[str, Any]) -> str:
    """For an unresolved run: the messages sent that no pool process started and the broker
    does not hold (lost), from the delivery records and the broker probes."""
    h = History.from_json(history)
    if not h.deliveries:
        return ""
    if "error" in h.broker:
        return f"<p>The broker could not be probed: {_e(h.broker['error'])}</p>"
    lost = lost_messages(h.deliveries, h.broker)
    sent = sum(1 for e in h.deliveries if e.kind == "publish")
    rows = "".join(f"<tr><td><code>{_e(e.node)}</code></td><td>{_e(e.task_id)}</td><td>attempt "
                   f"{e.attempt}, sent by {_e(e.hostname)}</td></tr>" for e in lost)
    summary = (f"<p>{sent} messages sent; {len(lost)} lost: never started, in no queue, not "
               f"unacknowledged, no state stored.</p>")
    return summary + (f"<table class='meta'>{rows}</table>" if rows else "")


def _reproduce(report: dict[str, Any]) -> str:
    rows = [("replay", f"<code>{_e(report['replay'])}</code>"),
            ("run once", f"<code>{_e(report['rerun'])}</code>"),
            ("seed", _e(json.dumps(report.get("seed")))),
            ("versions", _e(", ".join(f"{k} {v}" for k, v in report.get("versions", {}).items())))]
    if report.get("hypothesis", {}).get("reproduce_failure"):
        rows.append(("hypothesis", f"<code>{_e(report['hypothesis']['reproduce_failure'])}</code>"))
    for key in ("shrink", "reproduction"):
        if report.get(key):
            rows.append((key, _e(json.dumps(report[key]))))
    cells = "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in rows)
    return f"<table class='meta'>{cells}</table>"


def _events(history: dict[str, Any]) -> str:
    lines = [json.dumps(e, sort_keys=True) for e in history.get("events", [])]
    return (f"<details><summary>{len(lines)} ledger events, {len(history.get('client_errors', []))} "
            f"client errors</summary><pre>{_e(chr(10).join(lines))}</pre></details>")
