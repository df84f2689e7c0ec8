"""JUnit XML for CI: one test case per (scenario, backend) pair, one per register entry checked."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET


def write_junit(summary: dict[str, Any], path: Path,
                register: list[dict[str, Any]] | None = None) -> Path:
    suite = ET.Element("testsuite", name="chord-chaos")
    if summary.get("versions"):  # the Celery under test first: its version, spec, path, commit
        props = ET.SubElement(suite, "properties")
        for key, value in summary["versions"].items():
            ET.SubElement(props, "property", name=key, value=str(value))
    failures = errors = skipped = 0
    for t in summary["scenarios"]:
        name = f"{t['scenario']}[{t['backend']},{t['delivery']}]"
        case = ET.SubElement(suite, "testcase", classname="chord_chaos.campaign", name=name,
                             time=str(t["seconds"]))
        mine = [f for f in summary["failures"]
                if f["scenario"] == t["scenario"] and f["backend"] == t["backend"]]
        text = "\n".join(f"{f['verdict']}: {'; '.join(f['messages'])}\n  report: {f.get('report')}"
                         for f in mine)
        if t["violations"]:
            failures += 1
            ET.SubElement(case, "failure", message=f"{t['violations']} violation(s) outside the "
                                                   "known-issues register").text = text
        elif t["unknown"]:
            errors += 1
            ET.SubElement(case, "error", message=f"{t['unknown']} run(s) unknown: the harness "
                                                 "failed").text = text
        ET.SubElement(case, "system-out").text = (
            f"runs {t['runs']}, faults {t['faults']}, passed {t['passed']}, known-issue runs "
            f"{t['known_issue_runs']} {t['known_issues']}, anomaly runs {t['anomaly_runs']} "
            f"{t['anomalies']}")
    for r in register or []:
        case = ET.SubElement(suite, "testcase", classname="chord_chaos.known_issues", name=r["id"])
        if r.get("not_run"):
            skipped += 1
            ET.SubElement(case, "skipped", message=str(r["not_run"]))
        elif not r["reproduced"]:
            skipped += 1
            why = "flaky, expected at times" if r["flaky"] else "fixed in this Celery? check its link"
            ET.SubElement(case, "skipped", message=f"did not reproduce in {r['runs']} run(s): {why}")
    tests = len(summary["scenarios"]) + len(register or [])
    suite.attrib.update(tests=str(tests), failures=str(failures), errors=str(errors),
                        skipped=str(skipped), time=str(summary.get("elapsed", 0)))
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)
    return path
