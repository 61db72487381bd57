"""The report as one self-contained HTML page: inline CSS and SVG, no scripts, no links out."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape

from redraft.label_config import ISSUE_TAGS
from redraft.report.build import Report
from redraft.report.charts import bar_chart, grouped_bar_chart, line_chart
from redraft.report.metrics import GroupMetrics, week_span
from redraft.report.stats import Estimate

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1d1d24;margin:0;
background:#fafafb}
main{max-width:1060px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid
#ddd;padding-bottom:4px}.meta{color:#666;font-size:12px}
table{border-collapse:collapse;width:100%;margin:8px 0;background:#fff;font-size:13px}
th,td{padding:5px 8px;border-bottom:1px solid #e6e6ea;text-align:right}td{white-space:nowrap}
th:first-child,td:first-child,th.l,td.l{text-align:left}th{background:#f0f0f4}
.verdict{background:#fff;border-left:4px solid #3b6ea8;padding:8px 14px;margin:6px 0}
.verdict.sig{border-color:#3f9a5b}.warn{color:#a0521b;font-size:12px}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(420px,1fr));gap:12px}
.chart{width:100%;height:auto;background:#fff;border:1px solid #e6e6ea;border-radius:6px}
.chart-title{font-size:13px;font-weight:600;fill:#1d1d24}.tick,.label,.legend{font-size:11px;
fill:#555}.small{font-size:9px}.value{font-size:11px;fill:#333}.grid{stroke:#eee}
.whisker{stroke:#222;stroke-width:1.5;fill:none}.line{fill:none;stroke-width:2}
.note{color:#555;font-size:12px}
"""


def render_html(report: Report) -> str:
    """The whole report page."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>redraft quality report</title>",
        f"<style>{STYLE}</style></head><body><main>",
        "<h1>Did the drafts get better?</h1>",
        f'<p class="meta">Source: {escape(report.source)} · generated {escape(report.generated_at)}'
        f" · {sum(g.annotations for g in report.versions)} annotations"
        f" · {report.rejected} skipped or empty annotations left out</p>",
        _verdict(report),
        "<h2>Per model version</h2>",
        _table(report.versions, first="model_version"),
        _version_charts(report),
        "<h2>Over time (per week)</h2>",
        _weekly_charts(report),
        "<h2>What was wrong (issue tags)</h2>",
        _issues(report),
        "<h2>Per client</h2>",
        _table(report.clients, first="model_version", second="client"),
        _style_rules(report),
        _calibration(report),
        "<h2>Agreement</h2>",
        _agreement(report),
        _writers(report),
        _method(),
        "</main></body></html>",
    ]
    return "\n".join(parts)


def _style_rules(report: Report) -> str:
    """Per client and learned rule: the share of each version's drafts that follow it."""
    if not report.style_rules:
        return ""
    versions = [v for v in report.order if any(a.model_version == v for a in report.style_rules)]
    cells = {(a.client, a.rule, a.model_version): a for a in report.style_rules}
    rows = list(dict.fromkeys((a.client, a.rule) for a in report.style_rules))
    head = "".join(f"<th>{escape(v)}</th>" for v in versions)
    body = []
    for client, rule in rows:
        shares = []
        for version in versions:
            a = cells.get((client, rule, version))
            shares.append(f"<td>{a.share:.0%} ({a.drafts})</td>" if a else "<td>–</td>")
        label = escape(rule).replace("\n", "<br>")
        body.append(
            f'<tr><td class="l">{escape(client)}</td><td class="l">{label}</td>'
            + "".join(shares)
            + "</tr>"
        )
    return "\n".join(
        [
            "<h2>Learned style rules: drafts that already follow them</h2>",
            '<p class="note">Rules from `redraft styles learn` in the prompt template; the '
            "share of each version's annotated drafts that follow each rule (drafts).</p>",
            f'<table><tr><th class="l">client</th><th class="l">rule</th>{head}</tr>',
            *body,
            "</table>",
        ]
    )


def _calibration(report: Report) -> str:
    """Per version: how well the draft confidence scores foretold the writers' edits."""
    if not report.calibration:
        return ""
    head = [
        "model version",
        "scored tasks",
        "rank correlation (95% CI)",
        "threshold",
        "drafts at or above it",
        "sent as is among them (95% CI)",
    ]
    rows = [
        "<h2>Confidence score: did it foretell the edits?</h2>",
        '<p class="note">Each draft\'s score (0-1, higher = more likely sent as is) against '
        "what the writers did with it. <em>Rank correlation</em>: Spearman's rho between the "
        "score and 1 - edit distance (+1: the score ranks the drafts exactly as the edits do; "
        "0: no better than chance), Fisher-z interval. <em>Sent as is</em>: of the drafts "
        "scored at or above the threshold, the share sent unchanged (the score's precision), "
        "and how many drafts that threshold covers.</p>",
        "<table><thead><tr>" + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr>",
        "</thead><tbody>",
    ]
    for c in report.calibration:
        covered = f"{c.covered}" + ("" if c.coverage is None else f" ({c.coverage:.0%})")
        cells = [
            c.model_version,
            str(c.tasks),
            _est(c.spearman, lambda v: f"{v:+.2f}"),
            f"{c.threshold:.2f}",
            covered,
            _est(c.precision, _pct),
        ]
        rows.append("<tr>" + "".join(f"<td>{escape(x)}</td>" for x in cells) + "</tr>")
    return "\n".join([*rows, "</tbody></table>"])


def _verdict(report: Report) -> str:
    if not report.comparison:
        return '<p class="note">Only one model version here: nothing to compare yet.</p>'
    d0 = report.comparison[0]
    rows = [f"<h2>{escape(d0.b)} compared with {escape(d0.a)}</h2>"]
    for d in report.comparison:
        warning = f'<div class="warn">{escape(d.warning)}</div>' if d.warning else ""
        css = "verdict sig" if d.significant else "verdict"
        rows.append(f'<div class="{css}">{escape(d.sentence)}{warning}</div>')
    return "\n".join(rows)


def _est(e: Estimate, fmt: Callable[[float], str]) -> str:
    if e.value is None:
        return "–"
    if e.low is None or e.high is None:
        return fmt(e.value)
    return f"{fmt(e.value)} ({fmt(e.low)}–{fmt(e.high)})"


def _pct(v: float) -> str:
    """A whole percentage; never "-0%"."""
    text = f"{v:.0%}"
    return "0%" if text == "-0%" else text


def _table(groups: Sequence[GroupMetrics], first: str, second: str | None = None) -> str:
    head = [first.replace("_", " ")] + ([second] if second else [])
    head += [
        "drafts",
        "annotations",
        "rating (95% CI)",
        "accepted as is (95% CI)",
        "edit distance (95% CI)",
        "feedback",
        "median lead time",
    ]
    rows = ["<table><thead><tr>" + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr>"]
    rows.append("</thead><tbody>")
    for g in groups:
        cells = [getattr(g, first)] + ([getattr(g, second)] if second else [])
        cells += [
            str(g.drafts),
            str(g.annotations),
            _est(g.rating, lambda v: f"{v:.2f}"),
            _est(g.accepted, _pct),
            _est(g.edit_distance, lambda v: f"{v:.3f}"),
            "–" if g.feedback_rate is None else f"{g.feedback_count} ({g.feedback_rate:.0%})",
            "–" if g.lead_time_median is None else f"{g.lead_time_median:.0f} s",
        ]
        rows.append("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in cells) + "</tr>")
    return "\n".join([*rows, "</tbody></table>"])


def _version_charts(report: Report) -> str:
    labels = [g.model_version for g in report.versions]

    def chart(title: str, attr: str, ymin: float, ymax: float, fmt: Callable) -> str:
        ests = [getattr(g, attr) for g in report.versions]
        return bar_chart(
            title,
            labels,
            [e.value for e in ests],
            [e.low for e in ests],
            [e.high for e in ests],
            ymin,
            ymax,
            fmt,
        )

    top = max([g.edit_distance.high or g.edit_distance.value or 0 for g in report.versions] + [0.1])
    return (
        '<div class="charts">'
        + chart("Mean rating (1-5), 95% CI", "rating", 1.0, 5.0, lambda v: f"{v:.1f}")
        + chart("Accepted as is, 95% CI", "accepted", 0.0, 1.0, _pct)
        + chart(
            "Edit distance draft→final, 95% CI",
            "edit_distance",
            0.0,
            min(1.0, top * 1.15),
            lambda v: f"{v:.2f}",
        )
        + "</div>"
    )


def _weekly_charts(report: Report) -> str:
    weeks = week_span(g.week for g in report.weekly)
    if not weeks:
        return '<p class="note">No annotation dates: nothing to plot over time.</p>'
    if len(weeks) == 1:
        return (
            f'<p class="note">All annotations so far are from one week ({escape(weeks[0])}): '
            "the weekly charts start once a second week has annotations. The tables above have "
            "this week's figures.</p>"
        )
    index = {(g.model_version, g.week): g for g in report.weekly}

    def series(pick: Callable[[GroupMetrics], float | None]) -> dict[str, list[float | None]]:
        out = {}
        for version in report.order:
            out[version] = [
                pick(index[(version, w)]) if (version, w) in index else None for w in weeks
            ]
        return out

    counts = series(lambda g: float(g.annotations) or None)
    most = max([v for s in counts.values() for v in s if v is not None] + [1.0])
    dist = series(lambda g: g.edit_distance.value)
    top = max([v for s in dist.values() for v in s if v is not None] + [0.1])
    return (
        '<div class="charts">'
        + line_chart(
            "Mean rating per week",
            weeks,
            series(lambda g: g.rating.value),
            1.0,
            5.0,
            lambda v: f"{v:.1f}",
        )
        + line_chart(
            "Accepted as is per week", weeks, series(lambda g: g.accepted.value), 0.0, 1.0, _pct
        )
        + line_chart(
            "Edit distance per week", weeks, dist, 0.0, min(1.0, top * 1.15), lambda v: f"{v:.2f}"
        )
        + line_chart("Annotations per week", weeks, counts, 0.0, most * 1.1, lambda v: f"{v:.0f}")
        + "</div>"
    )


def _issues(report: Report) -> str:
    seen = {t for g in report.versions for t in g.issue_counts}
    tags = [t for t in ISSUE_TAGS if t in seen] + sorted(seen - set(ISSUE_TAGS))
    if not tags:
        return '<p class="note">No issue tags ticked.</p>'
    series = {g.model_version: [g.issue_rate(t) or 0.0 for t in tags] for g in report.versions}
    top = max([v for s in series.values() for v in s] + [0.05])
    chart = grouped_bar_chart(
        "Share of annotations with each issue tag", tags, series, min(1.0, top * 1.15), _pct
    )
    return f'<div class="charts">{chart}</div>'


def _num(value: float | None, fmt: str = ".2f") -> str:
    return "–" if value is None else format(value, fmt)


def _agreement(report: Report) -> str:
    a = report.annotators
    parts = []
    if a is None or a.tasks == 0:
        parts.append(
            '<p class="note">No task has more than one annotation: no annotator '
            "agreement to show.</p>"
        )
    else:
        parts.append(
            f"<p>{a.tasks} tasks carry several annotations ({a.annotations} annotations, "
            f"{a.pairs} rating pairs). Krippendorff's alpha on ratings: ordinal "
            f"{_num(a.alpha_ordinal)}, interval {_num(a.alpha_interval)} (1 = perfect, 0 = "
            f"chance; below 0.667 is weak). Accepted-as-is agrees in "
            f"{_num(a.accept_agreement and a.accept_agreement * 100, '.0f')}% of "
            f"{a.accept_pairs} pairs.</p>"
        )
    if report.judges:
        parts.append(
            '<p class="note">A judge model scored the drafts. Check these figures before '
            "trusting its scores: exact = same score as the person; kappa = quadratic-weighted "
            "Cohen's kappa.</p><table><thead><tr><th>judge</th><th>pairs</th><th>exact</th>"
            "<th>within 1</th><th>mean |diff|</th><th>Spearman</th><th>kappa</th></tr>"
            "</thead><tbody>"
        )
        for j in report.judges:
            parts.append(
                f"<tr><td>{escape(j.judge)}</td><td>{j.n}</td>"
                f"<td>{_num(j.exact and j.exact * 100, '.0f')}%</td>"
                f"<td>{_num(j.within_one and j.within_one * 100, '.0f')}%</td>"
                f"<td>{_num(j.mean_abs_diff)}</td><td>{_num(j.spearman)}</td>"
                f"<td>{_num(j.kappa)}</td></tr>"
            )
        parts.append("</tbody></table>")
    return "\n".join(parts)


def _writers(report: Report) -> str:
    """Per-writer figures, when more than one writer annotated."""
    if not report.several_writers:
        return ""
    head = [
        "writer",
        "tasks",
        "shared",
        "annotations",
        "rating (95% CI)",
        "rating vs others",
        "accepted as is (95% CI)",
        "edit distance (95% CI)",
        "accepted-as-is agrees",
        "feedback",
        "median lead time",
    ]
    rows = [
        "<h2>Per writer</h2>",
        '<p class="note">Each writer\'s own annotations over every version. <em>Shared</em>: '
        "tasks another writer annotated too; on those, <em>rating vs others</em> is the "
        "writer's rating minus the other writers' mean (above 0: rates higher than "
        "colleagues), and <em>accepted-as-is agrees</em> the share of pairs with another "
        "writer that made the same call (sent the draft unchanged, or not).</p>",
        "<table><thead><tr>" + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr>",
        "</thead><tbody>",
    ]
    for w in report.writers:
        g = w.figures
        cells = [
            w.writer,
            str(w.tasks),
            str(w.shared_tasks),
            str(g.annotations),
            _est(g.rating, lambda v: f"{v:.2f}"),
            "–" if w.rating_offset is None else f"{w.rating_offset:+.2f}",
            _est(g.accepted, _pct),
            _est(g.edit_distance, lambda v: f"{v:.3f}"),
            "–" if w.accept_agreement is None else f"{w.accept_agreement:.0%} of {w.accept_pairs}",
            "–" if g.feedback_rate is None else f"{g.feedback_count} ({g.feedback_rate:.0%})",
            "–" if g.lead_time_median is None else f"{g.lead_time_median:.0f} s",
        ]
        rows.append("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in cells) + "</tr>")
    return "\n".join([*rows, "</tbody></table>"])


def _method() -> str:
    return (
        '<h2>How these figures are made</h2><ul class="note">'
        "<li>The unit is the task: several annotations of one draft are not independent, so "
        "a task's annotations are averaged into one value per version first, and every "
        "interval, test and n counts tasks.</li>"
        "<li>Rating: mean of 1-5 ratings with a Student t 95% interval.</li>"
        "<li>Accepted as is: final equals the draft (whitespace aside); Wilson 95% interval.</li>"
        "<li>Edit distance: character-level Levenshtein distance from draft to final divided "
        "by the longer text's length (0 = sent as drafted, 1 = rewritten); mean with a t "
        "interval. Machine-written (golden) finals are left out.</li>"
        "<li>Comparisons: Welch t-test on ratings; Newcombe interval and z-test on accept "
        "rates; bootstrap interval (10,000 resamples, fixed seed) and permutation test on the "
        "relative change in edit distance. Significant means p &lt; 0.05.</li></ul>"
    )
