"""report.html: the Markdown report as one self-contained page for a browser (docs/science.md §7).

    html = render_html(markdown_text, out_dir)     # report.md's text, and the folder its figures sit in

Built from report.md itself (the subset the report writer emits: headings, paragraphs, tables,
figures), so the two cannot say different things. Every figure is embedded as base64 PNG, so the
file can be mailed or archived alone; a table of contents links the suites and findings; each
check row and each verdict is coloured by its outcome (green: no check fails, red: a check
fails, grey: n/a, nothing decided); clicking a column header sorts a table (a few lines of inline script, no network).
"""
from __future__ import annotations

import base64
import html
import re
from pathlib import Path

_IMAGE = re.compile(r"^!\[(?P<caption>[^\]]*)\]\((?P<path>[^)]+)\)$")
_PASS, _FAIL, _NA = "✅", "❌", "➖"  # report.md's verdict marks: pass, fail, n/a

STYLE = """
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2329;margin:0;background:#f6f7f9}
main{max-width:1100px;margin:0 auto;padding:24px 32px;background:#fff;min-height:100vh}
h1{font-size:26px;margin:8px 0 12px}h2{font-size:21px;margin-top:36px;border-bottom:2px solid #dde2e8;padding-bottom:4px}
h3{font-size:17px;margin-top:26px}code{font:13px ui-monospace,Menlo,Consolas,monospace;background:#f0f2f5;padding:1px 4px;border-radius:3px}
nav.toc{background:#f0f4f8;border:1px solid #d5dde6;border-radius:6px;padding:10px 18px;margin:16px 0}
nav.toc ul{margin:4px 0;padding-left:20px}nav.toc li{margin:2px 0}
nav.toc .count{color:#56606b;font-size:13px}
table{border-collapse:collapse;width:100%;margin:10px 0 16px;font-size:13.5px}
th,td{border:1px solid #d9dee4;padding:5px 8px;vertical-align:top}
th{background:#e9edf2;text-align:left;cursor:pointer;position:sticky;top:0;user-select:none}
th:hover{background:#dde3ea}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.pass td{background:#effaf1}tr.fail td{background:#fdeeee}tr.na td{background:#f1f1f1;color:#555}
td.verdict-cell{font-weight:600;text-align:center}tr.pass td.verdict-cell{color:#17692b}tr.fail td.verdict-cell{color:#a4161a}tr.na td.verdict-cell{color:#6b6b6b}
.verdict{border-left:5px solid #8a96a3;background:#f5f7f9;padding:8px 12px;margin:10px 0;border-radius:3px}
.verdict.pass{border-color:#2e9e4a;background:#eef9f0}.verdict.fail{border-color:#c9302c;background:#fcefee}.verdict.na{border-color:#9a9a9a;background:#f3f3f3}
.badge{display:inline-block;font-size:12px;font-weight:700;padding:1px 7px;border-radius:9px;margin-right:6px;color:#fff}
.badge.pass{background:#2e9e4a}.badge.fail{background:#c9302c}.badge.na,.badge.none{background:#8a8a8a}
tr.undecided td{background:#fdf8e4}
figure{margin:16px 0}figure img{max-width:100%;border:1px solid #e1e5ea}figcaption{font-size:13px;color:#444;margin-top:4px}
.summary{font-size:16px}
"""

SORT_SCRIPT = """
document.querySelectorAll("table").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, col) {
    th.title = "sort by this column";
    th.addEventListener("click", function () {
      var body = table.tBodies[0], rows = Array.from(body.rows);
      var dir = th.dataset.dir === "asc" ? -1 : 1; th.dataset.dir = dir === 1 ? "asc" : "desc";
      var key = function (row) { var t = row.cells[col].innerText.trim(); var x = parseFloat(t.replace("\\u2212", "-"));
        return isNaN(x) ? t : x; };
      rows.sort(function (a, b) { var x = key(a), y = key(b);
        if (typeof x === typeof y) { return (x < y ? -1 : x > y ? 1 : 0) * dir; }
        return (typeof x === "number" ? -1 : 1) * dir; });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
"""


def slug(text: str, taken: set[str]) -> str:
    """A unique HTML id for a heading: lower case, words joined by '-'."""
    base = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"
    name, k = base, 2
    while name in taken:
        name, k = f"{base}-{k}", k + 1
    taken.add(name)
    return name


def inline(text: str) -> str:
    """Markdown inline markup of the report (`code`, **bold**, *italic*) as escaped HTML."""
    parts = re.split(r"(`[^`]*`)", text)
    out = []
    for part in parts:
        if part.startswith("`") and part.endswith("`") and len(part) >= 2:
            out.append(f"<code>{html.escape(part[1:-1])}</code>")
            continue
        s = html.escape(part.replace("\\|", "|"), quote=False)
        s = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", s)
        s = re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", r"<em>\1</em>", s)
        out.append(s)
    return "".join(out)


def table_cells(line: str) -> list[str]:
    """The cells of one Markdown table row; '\\|' inside a cell is a literal bar."""
    cells = re.split(r"(?<!\\)\|", line.strip())
    return [c.strip() for c in cells[1:-1]]


def blocks(markdown: str) -> list[tuple[str, object]]:
    """The report's Markdown as blocks: ("h1"|"h2"|"h3", text), ("table", rows), ("image", (caption, path)), ("p", text)."""
    out, para, rows = [], [], []

    def flush():
        if para:
            out.append(("p", " ".join(para)))
            para.clear()
        if rows:
            out.append(("table", [r for r in rows if not re.fullmatch(r"\|?[-\s|:]+\|?", r)]))
            rows.clear()
    for line in markdown.splitlines():
        heading = re.match(r"^(#{1,3}) (.*)$", line)
        image = _IMAGE.match(line.strip())
        if line.startswith("|"):
            if para:
                out.append(("p", " ".join(para)))
                para.clear()
            rows.append(line)
        elif heading or image or not line.strip():
            flush()
            if heading:
                out.append((f"h{len(heading.group(1))}", heading.group(2)))
            elif image:
                out.append(("image", (image.group("caption"), image.group("path"))))
        else:
            if rows:
                flush()
            para.append(line.strip())
    flush()
    return out


_CLAIM_MARKS = {"🟢": "pass", "🔴": "fail", "🟡": "undecided", "⚪": "na"}   # the scoreboard's verdict marks
_BADGE = re.compile(r"^\*\*Claim checks[^:]*: (✅ pass|❌ fail|➖ n/a|no claim check)\.\*\*")


def badge_of(paragraph: str) -> str | None:
    """'pass', 'fail', 'na' or 'none' from a finding's "**Claim checks …: <badge>.**" line; None for other text."""
    m = _BADGE.match(paragraph)
    if not m:
        return None
    return {"✅ pass": "pass", "❌ fail": "fail", "➖ n/a": "na", "no claim check": "none"}[m.group(1)]


def _table_html(rows: list[str]) -> str:
    header, body = table_cells(rows[0]), rows[1:]
    lines = ["<table>", "<thead><tr>" + "".join(f"<th>{inline(h)}</th>" for h in header) + "</tr></thead>", "<tbody>"]
    for row in body:
        cells = table_cells(row)
        claim = next((v for k, v in _CLAIM_MARKS.items() if any(c.startswith(k) for c in cells)), "")
        cls = "fail" if _FAIL in cells else "pass" if _PASS in cells else "na" if _NA in cells else claim
        tds = []
        for cell in cells:
            if cell in (_PASS, _FAIL, _NA):
                tds.append(f'<td class="verdict-cell">{ {_PASS: "pass", _FAIL: "FAIL", _NA: "n/a"}[cell]}</td>')
            elif re.fullmatch(r"[-−+]?[\d.]+(e[-+]?\d+)?|[–∞−]+|\[.*\]", cell):
                tds.append(f'<td class="num">{inline(cell)}</td>')
            else:
                tds.append(f"<td>{inline(cell)}</td>")
        lines.append(f'<tr class="{cls}">' + "".join(tds) + "</tr>" if cls else "<tr>" + "".join(tds) + "</tr>")
    return "\n".join(lines + ["</tbody>", "</table>"])


def embedded_image(path: Path) -> str:
    """A PNG file as a data: URI."""
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def render_html(markdown: str, out_dir: str | Path, title: str = "syncgap validation report") -> str:
    """The self-contained HTML page of report.md's text, figures read from `out_dir`."""
    out_dir = Path(out_dir)
    items = blocks(markdown)
    taken: set[str] = set()
    ids = {i: slug(text, taken) for i, (kind, text) in enumerate(items) if kind in ("h2", "h3")}
    # each finding's badge is its claim checks' verdict, written by report.md in its "**Claim checks" line
    section_outcome, current = {}, None
    for i, (kind, body) in enumerate(items):
        if kind in ("h2", "h3"):
            current = i
        elif kind == "p" and current is not None and badge_of(body):
            section_outcome[current] = badge_of(body)
    toc = []
    for i, (kind, text) in enumerate(items):
        if kind in ("h2", "h3"):
            badge = section_outcome.get(i)
            words = {"pass": "claim checks pass", "fail": "claim checks fail", "na": "claim checks n/a",
                     "none": "no claim check"}
            mark = f' <span class="count">({words[badge]})</span>' if badge else ""
            toc.append((kind, f'<a href="#{ids[i]}">{inline(text)}</a>{mark}'))
    nav = ['<nav class="toc"><strong>Contents</strong><ul>']
    open_sub = False
    for kind, link in toc:
        if kind == "h2":
            if open_sub:
                nav.append("</ul></li>")
                open_sub = False
            nav.append(f"<li>{link}")
            nav.append("<ul>")
            open_sub = True
        else:
            nav.append(f"<li>{link}</li>")
    if open_sub:
        nav.append("</ul></li>")
    nav.append("</ul></nav>")
    body, nav_done, current = [], False, None
    for i, (kind, content) in enumerate(items):
        if kind in ("h2", "h3"):
            current = i
        if kind == "h1":
            body.append(f"<h1>{inline(content)}</h1>")
        elif kind in ("h2", "h3"):
            if not nav_done:
                body += nav
                nav_done = True
            body.append(f'<{kind} id="{ids[i]}">{inline(content)}</{kind}>')
        elif kind == "table":
            body.append(_table_html(content))
        elif kind == "image":
            caption, rel = content
            png = out_dir / rel
            if png.is_file():
                # the caption paragraph that report.md puts under each figure follows as the next block
                body.append(f'<figure><img alt="{html.escape(caption)}" src="{embedded_image(png)}"></figure>')
            else:
                body.append(f"<p><em>(figure {html.escape(rel)} missing: {inline(caption)})</em></p>")
        elif badge_of(content):
            o = badge_of(content)
            word = {"pass": "PASS", "fail": "FAIL", "na": "N/A", "none": "NO CLAIM CHECK"}[o]
            body.append(f'<div class="verdict {o}"><span class="badge {o}">{word}</span>{inline(content)}</div>')
        elif content.startswith("**Verdict.**"):
            o = section_outcome.get(current)
            body.append(f'<div class="verdict {o or ""}">{inline(content)}</div>')
        else:
            cls = ' class="summary"' if not nav_done else ""
            body.append(f"<p{cls}>{inline(content)}</p>")
    if not nav_done:
        body += nav
    return "\n".join(["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
                      '<meta name="viewport" content="width=device-width, initial-scale=1">',
                      f"<title>{html.escape(title)}</title>", f"<style>{STYLE}</style>", "</head>", "<body><main>",
                      *body, f"<script>{SORT_SCRIPT}</script>", "</main></body>", "</html>", ""])


__all__ = ["render_html", "blocks", "inline", "table_cells", "embedded_image", "badge_of"]
