"""What a writer sees: the labeling screen in headless Chromium at 1440x1000, logged in to the
real Label Studio, a project made by `redraft init` and drafted by `prefill`, opened the way a
writer works through tasks (Label All Tasks).

Set REDRAFT_SCREENSHOTS=DIR to keep a screenshot (docs/img/labeling-screen.png comes from it).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.browser import Browser, log_in
from tests.fixtures.labelstudio import drafted_project

pytestmark = pytest.mark.e2e

BRIEF = {
    "brief": "Brightline's churn rose to 4.1% a month after their pricing change. Offer a "
    "20-minute walkthrough of the churn dashboard with their own anonymised data.",
    "client": "Northwind Analytics",
    "email_type": "cold intro",
    "recipient": "Maria Lopez, Head of Customer Success",
    "company": "Brightline Software",
    "goal": "book a product walkthrough",
    "external_id": "NW-001",
}

SCREEN = """(() => {
  const box = e => { if (!e) return null; const b = e.getBoundingClientRect();
                     return {top: b.top, bottom: b.bottom, left: b.left, right: b.right}; };
  const q = s => document.querySelector(s);
  const bar = q('.lsf-bottombar');
  const hints = [...document.querySelectorAll('.lsf-hint')].filter(h => h.offsetParent !== null);
  const star = q('.ant-rate-star-zero .ant-rate-star-second');
  return JSON.stringify({
    width: innerWidth,
    visibleBottom: bar ? bar.getBoundingClientRect().top : innerHeight,
    final: box(q('textarea[name^=final]')), finalText: (q('textarea[name^=final]') || {}).value,
    feedback: box(q('textarea[name^=feedback]')), stars: box(q('.ant-rate')),
    issues: [...document.querySelectorAll('label.ant-checkbox-wrapper')].map(l => l.innerText),
    lastIssue: box([...document.querySelectorAll('label.ant-checkbox-wrapper')].pop()),
    sidePanel: box(q('.lsf-sidepanels__wrapper_align_right')),
    content: box(q('.lsf-sidepanels__content')),
    visibleHints: hints.length,
    emptyStar: star ? getComputedStyle(star).color : null,
  });
})()"""


def test_a_writer_sees_brief_draft_final_rating_tags_and_feedback_on_one_screen(
    label_studio: Any,
    ls_settings: Any,
    standin: Any,
    backend_server: Any,
    browser: Browser,
    tmp_path: Path,
) -> None:
    settings = ls_settings.with_overrides(openai_base_url=standin.base_url, model_version="v1")
    backend = backend_server(settings)
    project_id = drafted_project(settings, backend.url, "writer screen", [BRIEF], tmp_path)

    log_in(browser, label_studio.url, label_studio.login)
    browser.goto(f"{label_studio.url}/projects/{project_id}/data?labeling=1")
    browser.wait_for("(document.querySelector('textarea[name^=final]') || {}).value", 120)
    time.sleep(2)  # the editor settles its layout after the first paint
    screen = json.loads(browser.evaluate(SCREEN))
    keep = os.environ.get("REDRAFT_SCREENSHOTS")
    if keep:
        browser.screenshot(Path(keep) / "labeling-screen.png")

    bottom = screen["visibleBottom"]
    # Everything a writer fills in is on the first screen, above Label Studio's bottom bar.
    for control in ("final", "feedback", "stars", "lastIssue"):
        assert 0 < screen[control]["bottom"] <= bottom, (control, screen)
    assert screen["finalText"].startswith("Subject:")  # the draft, ready to edit
    assert screen["issues"][:3] == ["Tone", "Voice", "Structure"]  # no "Tone[2]" hotkey hints
    assert screen["visibleHints"] == 0
    # The regions/relations/info panel is gone and the task gets the whole width.
    assert screen["sidePanel"]["right"] - screen["sidePanel"]["left"] == 0
    assert screen["content"]["right"] == screen["width"]
    # Empty stars are a visible grey, not Label Studio's near-white #f0f0f0.
    assert screen["emptyStar"] == "rgb(185, 185, 198)"
