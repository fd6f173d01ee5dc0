"""report.html (self-contained, every figure of report.md embedded, verdicts coloured) and summary.tex."""
from __future__ import annotations

import base64
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from syncgap.validation.checks import Check
from syncgap.validation.suites.result import Figure, SuiteResult
from syncgap.validation.report.html import blocks, inline, render_html, table_cells
from syncgap.validation.report.tex import latex_escape, render_latex


class Page(HTMLParser):
    """Collects what the checks below need: images, ids, links, row classes, tag balance."""

    VOID = {"meta", "img", "br", "hr", "link", "input"}

    def __init__(self):
        super().__init__()
        self.images, self.ids, self.links, self.row_classes, self.stack, self.external = [], set(), [], [], [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.images.append(a)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "a" and "href" in a:
            self.links.append(a["href"])
        if tag == "tr":
            self.row_classes.append(a.get("class", ""))
        for key in ("src", "href"):
            if a.get(key, "").startswith(("http:", "https:", "//")):
                self.external.append(a[key])
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1] if self.stack else None}>"
        self.stack.pop()


def parse(text: str) -> Page:
    page = Page()
    page.feed(text)
    page.close()
    assert not page.stack, f"unclosed tags: {page.stack}"
    return page


def check_html_against_markdown(out: Path) -> Page:
    """Every figure that report.md embeds is in report.html, byte for byte, as a data: URI."""
    md = (out / "report.md").read_text(encoding="utf-8")
    page = parse((out / "report.html").read_text(encoding="utf-8"))
    figures = re.findall(r"^!\[[^\]]*\]\(([^)]+)\)$", md, flags=re.M)
    embedded = [base64.b64decode(img["src"].split(",", 1)[1]) for img in page.images
                if img["src"].startswith("data:image/png;base64,")]
    assert len(page.images) == len(embedded) == len(figures)
    assert embedded == [(out / f).read_bytes() for f in figures]
    assert not page.external, "report.html must not load anything from the network"
    toc = [h for h in page.links if h.startswith("#")]
    assert toc and all(h[1:] in page.ids for h in toc)
    return page


def _png(path: Path, colour: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [1, 0], color=colour)
    fig.savefig(path, dpi=40)
    plt.close(fig)


@pytest.fixture()
def report_folder(tmp_path, monkeypatch):
    import syncgap.validation.report.run as report
    from syncgap.validation import suites
    checks = [Check("dit.fhgm.intrinsic_gap_sign.features", "a finding | that reproduces", 5.0, 5.1, (4.0, 6.0), "steps", True, finding="P2.1 gap"),
              Check("dit.fhgm.depth.gap_emergence_layer", "one that does *not*", 1.0, 5.0, (4.0, float("inf")), "steps",
                    False, model="fhgm", finding="P2.3 depth"),
              Check("fake.none", "no onset", None, None, None, "", False, finding="P2.3 depth",
                    reason="no onset observed where one is predicted")]
    _png(tmp_path / "one.png", "C0")
    (tmp_path / "sub").mkdir()
    _png(tmp_path / "sub" / "two.png", "C3")

    def suite(out_dir, *, quick, progress=None):
        return SuiteResult("fake", checks, [Figure("one.png", "first", ["a.json"]), Figure("sub/two.png", "second"),
                                            Figure("absent.png", "never drawn")],
                           {"P2.1 gap": "It reproduces.", "P2.3 depth": "It does **not** reproduce."})
    monkeypatch.setitem(suites.SUITES, "fake", suite)
    report.run_report(tmp_path, ["fake"], quick=True)
    return tmp_path, checks


def test_html_embeds_every_figure_and_colours_verdicts(report_folder):
    out, checks = report_folder
    page = check_html_against_markdown(out)
    assert len(page.images) == 2                                  # the absent figure is named, not embedded
    text = (out / "report.html").read_text(encoding="utf-8")
    assert "absent.png missing" in text
    # checks: 1 pass, 2 fail; scoreboard: P2.1 on fhgm holds (pass), P2.3 does not hold (fail)
    assert page.row_classes.count("pass") == 1 + 1 and page.row_classes.count("fail") == 2 + 1
    # a finding's badge is its claim checks' verdict; the verdict paragraph takes its colour
    assert re.search(r'<div class="verdict pass"><span class="badge pass">PASS</span><strong>Claim checks \(P2\.1\): '
                     r'✅ pass\.</strong>', text)
    assert re.search(r'<div class="verdict pass"><strong>Verdict\.</strong> It reproduces', text)
    assert re.search(r'<div class="verdict fail"><span class="badge fail">FAIL</span><strong>Claim checks \(P2\.3\)', text)
    assert re.search(r'<div class="verdict fail"><strong>Verdict\.</strong>.*<strong>not</strong>', text)
    assert "a finding | that reproduces" in text                  # the escaped bar of the Markdown cell
    assert "<nav" in text and "<script>" in text


def test_summary_tex_lists_every_check(report_folder):
    out, checks = report_folder
    tex = (out / "summary.tex").read_text(encoding="utf-8")
    assert tex.count(r"\begin{longtable}") == tex.count(r"\end{longtable}") == 1
    rows = [ln for ln in tex.splitlines() if ln.startswith(r"\texttt{")]
    assert [re.match(r"\\texttt\{(.*?)\}", r).group(1) for r in rows] == [latex_escape(c.id) for c in checks]
    assert r"[4, $\infty$]" in rows[1] and r"\textbf{fail}" in rows[1] and "pass" in rows[0]
    assert "1 of 3 pass" in tex
    assert tex.count("{") == tex.count("}")


def test_markdown_pieces():
    assert table_cells(r"| `a` | x \| y | 3 |") == ["`a`", r"x \| y", "3"]
    assert inline("**b** and *i* and `<c>` & 2*3*4") == "<strong>b</strong> and <em>i</em> and <code>&lt;c&gt;</code> &amp; 2*3*4"
    kinds = [k for k, _ in blocks("# T\n\npara\ngraph\n\n| a |\n|---|\n| 1 |\n\n![c](f.png)\n")]
    assert kinds == ["h1", "p", "table", "image"]
    assert latex_escape("a_b & 50% ρ(g) #1") == r"a\_b \& 50\% $\rho$(g) \#1"


def test_render_html_without_figures_folder(tmp_path):
    html = render_html("# R\n\n## S\n\n![gone](x.png)\n", tmp_path)
    page = parse(html)
    assert page.images == [] and "x.png missing" in html


def test_na_checks_are_counted_apart_and_coloured_grey(tmp_path, monkeypatch):
    """An n/a check is neither a pass nor a fail: its own count in summary.json, report.md, checks.csv and the tex."""
    import json
    import syncgap.validation.report.run as report
    from syncgap.validation import suites
    checks = [Check("fake.pass", "agrees", 5.0, 5.1, (4.0, 6.0), "steps", True, finding="agreeing"),
              Check("dit.fhgm.ordering.features", "rank order", None, 0.33, (-0.6, 1.0), "Kendall tau", None, verdict="n/a",
                    kind="ordering", expects="> 0", reason="not resolved: the interval contains 0", finding="unresolved"),
              Check("fake.ghost", "nothing either way", None, None, None, "", True, finding="unresolved")]
    monkeypatch.setitem(suites.SUITES, "fake", lambda out_dir, *, quick, progress=None: SuiteResult(
        "fake", checks, [], {"unresolved": "Not established."}))
    s = report.run_report(tmp_path, ["fake"], quick=True)
    assert (s["passed"], s["failed"], s["n/a"]) == (1, 0, 2)           # the ghost's True became n/a
    assert [c["verdict"] for c in json.loads((tmp_path / "summary.json").read_text())["checks"]] == ["pass", "n/a", "n/a"]
    md = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "(in all 1 pass, 0 fail, 2 n/a)" in md and "| > 0 |" in md and "not resolved" in md
    assert "## Glossary" in md and "## How to read a check" in md and "t_int" in md
    page = check_html_against_markdown(tmp_path)
    # checks: 2 n/a, 1 pass; scoreboard: fhgm's P2.1-P2.3 and P1.A, P1.B not testable (grey), P2.4 undecided
    assert page.row_classes.count("na") == 2 + 5 and page.row_classes.count("pass") == 1
    assert page.row_classes.count("undecided") == 1
    assert '<span class="badge na">N/A</span>' in (tmp_path / "report.html").read_text(encoding="utf-8")
    assert (tmp_path / "checks.csv").read_text().count(",n/a,") == 2
    assert "2 n/a" in (tmp_path / "summary.tex").read_text()
