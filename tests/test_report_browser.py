"""The HTML report in headless Chromium: it renders, the charts are there, the console is clean.

Chromium is Debian's package (/usr/bin/chromium; `./dev test` installs it when missing). The
page is loaded from a file:// URL with networking features off; console messages reach
stderr through `--enable-logging=stderr --v=0` as `...:CONSOLE...` lines.
"""

from __future__ import annotations

import itertools
import math
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from redraft.prompting import load_template
from redraft.report.build import build_report, write_report
from redraft.report.html import render_html
from redraft.report.sources import from_tasks
from tests.fixtures.report import make_tasks

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).is_file(),
    reason="Chromium is not installed: `apt-get install -y chromium` (./dev test does it as root)",
)
CONSOLE = re.compile(r":CONSOLE[^\]]*\]\s*(.*)")


def open_in_chromium(page: Path, profile: Path) -> tuple[str, list[str]]:
    """The rendered DOM and every console message of one headless page load."""
    done = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, [m.group(1) for m in CONSOLE.finditer(done.stderr)]


def test_the_console_check_sees_errors(tmp_path):
    # Without this, "no console messages" could pass because none are ever captured.
    page = tmp_path / "broken.html"
    page.write_text('<!DOCTYPE html><p>x</p><script>console.error("marker-42")</script>')
    _, console = open_in_chromium(page, tmp_path / "profile")
    assert any("marker-42" in line for line in console), console


def test_report_renders_with_charts_and_no_console_errors(tmp_path):
    data = from_tasks(make_tasks(), load_template(None), source="constructed export")
    report = build_report(data, "2025-04-01 09:00 UTC")
    write_report(report, render_html(report), tmp_path / "report")
    dom, console = open_in_chromium(tmp_path / "report" / "report.html", tmp_path / "profile")
    assert console == []
    assert "<h1>Did the drafts get better?</h1>" in dom
    assert "v2 compared with v1" in dom
    # 3 per-version bar charts + 4 weekly line charts + 1 issue-tag chart.
    assert dom.count("<svg") == 8
    titles = re.findall(r'<text x="56" y="18" class="chart-title">([^<]+)</text>', dom)
    assert titles == [
        "Mean rating (1-5), 95% CI",
        "Accepted as is, 95% CI",
        "Edit distance draft→final, 95% CI",
        "Mean rating per week",
        "Accepted as is per week",
        "Edit distance per week",
        "Annotations per week",
        "Share of annotations with each issue tag",
    ]
    assert dom.count('class="bar"') == 3 * 2 + 1 * 2  # bars: 3 charts x 2 versions, tone x 2
    assert dom.count('class="whisker"') == 6
    assert dom.count('class="line"') == 4 * 2


def test_every_chart_is_drawn_at_one_scale_with_round_ticks(browser, tmp_path):
    """At 1440 px, the lone issue-tag chart is as wide as the paired ones (its fonts were twice
    their size when it stretched to the full width); axis ticks are round numbers."""
    import json
    import os

    data = from_tasks(make_tasks(), load_template(None), source="constructed export")
    report = build_report(data, "2025-04-01 09:00 UTC")
    write_report(report, render_html(report), tmp_path / "report")
    browser.goto((tmp_path / "report" / "report.html").as_uri())
    browser.wait_for("document.querySelectorAll('svg.chart').length === 8")
    widths = json.loads(
        browser.evaluate(
            "JSON.stringify([...document.querySelectorAll('svg.chart')]"
            ".map(s => Math.round(s.getBoundingClientRect().width)))"
        )
    )
    ticks = json.loads(
        browser.evaluate(
            "JSON.stringify([...document.querySelectorAll('svg.chart')].map(s => "
            "[...s.querySelectorAll('text.tick')].map(t => t.textContent)))"
        )
    )
    keep = os.environ.get("REDRAFT_SCREENSHOTS")
    if keep:
        browser.screenshot(Path(keep) / "report.png")
    assert len(set(widths)) == 1, widths
    for labels in ticks:
        values = [float(t.rstrip("%")) / (100 if t.endswith("%") else 1) for t in labels]
        gaps = {round(b - a, 9) for a, b in itertools.pairwise(values)}
        assert len(gaps) == 1, labels  # evenly spaced
        step = gaps.pop()
        assert round(step / 10 ** math.floor(math.log10(step)), 6) in (1, 2, 5), labels
