"""Run reports from the run store: what they gather, the chart, and that no recorded text can
become markup or reach the network."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest

from promptlsp.optimize.events import (
    CandidateProposed, CandidateScored, Critique, GradientComputed, IterationDone, PromptText, RunFinished, RunStarted,
    StepFailed, SummaryWritten,
)
from promptlsp.runs import RunStore
from promptlsp.runs.report import RunNotFound, build_report, find_run
from promptlsp.runs.report_render import chart_svg, render_html, render_text

HOSTILE = '</pre></title><script>alert("x")</script><img src="https://evil.example/a.png" onerror="alert(1)">'
INITIAL = PromptText(template="Classify: {{ review }} " + HOSTILE, system=None)
BEST = PromptText(template="Answer with one word.\n\nReview: {{ review }}", system="Be terse. <style>body{}</style>")
ACCOUNTING = {
    "elapsed_s": 12.5,
    "total": {"calls": 9, "cache_hits": 2, "failures": 1, "prompt_tokens": 900, "completion_tokens": 100,
              "tokens": 1000, "cost_usd": 0.0123, "wall_s": 11.0},
    "by_phase": {"task": {"calls": 6, "cache_hits": 2, "failures": 0, "tokens": 600, "cost_usd": 0.006, "wall_s": 5.0},
                 "gradient<b>": {"calls": 3, "cache_hits": 0, "failures": 1, "tokens": 400, "cost_usd": 0.0063,
                                 "wall_s": 6.0}},
}


def hostile_run(store: RunStore, run_id: str = "0123abcd") -> None:
    i, b = INITIAL.id, BEST.id
    events = [
        RunStarted(run_id, "gradsum", "/ws/" + HOSTILE + ".prompt.toml", INITIAL, {"iterations": 2}, {"calls": 40}),
        CandidateProposed(i, None, 0, INITIAL, "initial"),
        CandidateScored(i, "minibatch", 0.25, 4, 1),
        GradientComputed(i, "ex-1" + HOSTILE, "gradient " + HOSTILE),
        SummaryWritten(i, "summary " + HOSTILE, (Critique("critique " + HOSTILE, HOSTILE, "template", 0, 5,
                                                          "suggest " + HOSTILE, ("ex-1",)),), 1),
        StepFailed(i, 1, "edit", "failed " + HOSTILE),
        CandidateProposed(b, i, 1, BEST, "edit" + HOSTILE),
        CandidateScored(b, "minibatch", 0.75, 4, 1),
        IterationDone(1, b, 0.75, ACCOUNTING),
        CandidateScored(b, "minibatch", 1.0, 4, 2),
        IterationDone(2, b, 1.0, ACCOUNTING),
        CandidateScored(i, "validation", 0.0, 3, 2),
        CandidateScored(b, "validation", 1.0, 3, 2),
        RunFinished("finished", b, BEST, 0.0, 1.0, "validation", ACCOUNTING, "message " + HOSTILE),
    ]
    for event in events:
        store.record(run_id, event)


@pytest.fixture
def store(tmp_path: Path):
    s = RunStore(tmp_path / "runs.sqlite")
    yield s
    s.close()


class Page(HTMLParser):
    """Every element and attribute of a page, and its text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    page.close()
    return page


def test_the_report_gathers_scores_critiques_diff_and_phases(store):
    hostile_run(store)
    report = build_report(store, "0123abcd")
    assert [(p.iteration, p.split, p.score, p.winner) for p in report.points] == [
        (1, "minibatch", 0.25, False), (1, "minibatch", 0.75, True), (2, "minibatch", 1.0, True),
        (2, "validation", 0.0, False), (2, "validation", 1.0, True)]
    assert report.best_by_iteration == ((1, 0.75), (2, 1.0))
    assert report.summaries[0].summary.startswith("summary ") and report.summaries[0].critiques[0]["quote"] == HOSTILE
    assert report.gradients[0].iteration == 1 and report.failures[0].phase == "edit"
    assert "-Classify: {{ review }}" in report.diff and "+Answer with one word." in report.diff
    assert "+Be terse." in report.diff  # the system prompt's change too
    assert [(p.name, p.calls, p.tokens) for p in report.phases] == [("task", 6, 600), ("gradient<b>", 3, 400)]
    assert report.total.calls == 9 and report.total.cost_usd == 0.0123


def test_the_chart_has_one_dot_per_score_and_the_best_line(store):
    hostile_run(store)
    svg = ET.fromstring(chart_svg(build_report(store, "0123abcd")))  # well-formed XML
    ns = "{http://www.w3.org/2000/svg}"
    dots = svg.findall(f"{ns}circle")
    assert len(dots) == 5
    assert sorted(d.get("class") for d in dots) == ["minibatch", "minibatch winner", "minibatch winner",
                                                   "validation", "validation winner"]
    ys = {d.findtext(f"{ns}title"): float(d.get("cy")) for d in dots}
    assert min(ys.values()) < max(ys.values())  # a higher score is drawn higher
    (line,) = svg.findall(f"{ns}polyline")
    assert len(line.get("points").split()) == 2


def test_no_recorded_text_becomes_markup(store):
    hostile_run(store)
    html = render_html(build_report(store, "0123abcd"))
    page = parse(html)
    assert {tag for tag, _ in page.tags} <= {
        "html", "head", "meta", "title", "style", "body", "h1", "h2", "p", "br", "span", "svg", "rect", "line",
        "text", "polyline", "circle", "pre", "table", "tr", "th", "td", "div", "b", "i", "blockquote", "details",
        "summary", "ul", "li"}
    assert not [tag for tag, attrs in page.tags if any(name.startswith("on") for name in attrs)]
    assert sum(1 for tag, _ in page.tags if tag == "style") == 1  # only the page's own
    text = "".join(page.text)
    assert text.count(HOSTILE) >= 8  # shown as text: the file, quote, critique, summary, gradient, failure…


def test_the_page_refers_to_nothing_outside_itself(store):
    hostile_run(store)
    html = render_html(build_report(store, "0123abcd"))
    page = parse(html)
    for tag, attrs in page.tags:
        for name, value in attrs.items():
            if name in {"src", "href", "action", "data", "poster", "srcset"} or (name == "xmlns"):
                assert name == "xmlns" and value == "http://www.w3.org/2000/svg", (tag, name, value)
    assert "url(" not in html and "@import" not in html
    csp = [a["content"] for t, a in page.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert csp == ["default-src 'none'; style-src 'unsafe-inline'"]


def test_the_text_report_drops_control_characters(store):
    hostile_run(store)
    store.record("0123abcd", SummaryWritten(INITIAL.id, "bell\x07 and \x1b[31mred\x1b[0m", (), 2))
    text = render_text(build_report(store, "0123abcd"))
    assert "\x1b" not in text and "\x07" not in text and "[31mred" in text
    assert "run 0123abcd · gradsum · finished" in text and "validation 0.000 → 1.000" in text
    assert "+Answer with one word." in text and "total: 9, 2, 1, 1000, $0.0123, 11.0s" in text


def test_run_ids_match_by_unambiguous_prefix(store):
    hostile_run(store, "abc1")
    hostile_run(store, "abc2")
    assert find_run(store, "abc1").id == "abc1"
    with pytest.raises(RunNotFound, match="ambiguous: it starts abc2, abc1|ambiguous: it starts abc1, abc2"):
        find_run(store, "abc")
    with pytest.raises(RunNotFound, match="no run 'abd'"):
        find_run(store, "abd")
    hostile_run(store, "xyz")
    assert find_run(store, "x").id == "xyz"
    for wildcard in ("%", "_"):  # SQL LIKE's wildcards match only themselves
        with pytest.raises(RunNotFound):
            find_run(store, wildcard)


def test_a_run_that_only_started_still_has_a_report(store):
    store.record("r-started", RunStarted("r-started", "tgd", None, INITIAL, {}, {}))
    report = build_report(store, "r-started")
    assert report.points == () and report.diff == "" and report.total is None and report.iterations == 0
    page = parse(render_html(report))
    assert "No candidate was scored." in "".join(page.text)
    assert render_text(report).startswith("run r-started · tgd · running · (no file)")
