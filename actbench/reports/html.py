"""``leaderboard.html``: the Markdown leaderboard as one self-contained page.

The page is made from the same Markdown as ``leaderboard.md`` (one source of truth for both), by a
converter for the small subset the reports write: headings, paragraphs, ``- `` lists, pipe tables (with
``\\|`` escapes and the alignment row), ``![alt](path)`` lines and `code` spans. Every text is
HTML-escaped; images are embedded as ``data:image/png;base64`` URIs, CSS is inline, and a
Content-Security-Policy forbids any other source (no script, no font, no request leaves the page).
Each ``##`` section is a ``<section>``; the papers' published numbers get their own style, apart from
the measured rows.

>>> page = render_html("# T\\n\\n| a | b |\\n|---|---:|\\n| <x> | 1 |\\n", {})
>>> "<td>&lt;x&gt;</td><td class=\\"r\\">1</td>" in page
True
"""

from __future__ import annotations

import base64
import html
import re

from actbench.reports.reported import SECTION_TITLE

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'none'"
STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #1b1f23;
       background: #fff; }
main { max-width: 1200px; margin: 0 auto; padding: 1.5rem; }
h1 { border-bottom: 2px solid #24292f; padding-bottom: .3rem; }
section { margin: 1.5rem 0; }
section.reported { background: #f6f8fa; border-left: 4px solid #8c959f; padding: .2rem 1rem 1rem; }
table { border-collapse: collapse; margin: .6rem 0; font-size: .9rem; }
th, td { border: 1px solid #d0d7de; padding: .25rem .55rem; vertical-align: top; }
th { background: #eaeef2; }
tbody tr:nth-child(even) { background: #f6f8fa; }
td.r, th.r { text-align: right; font-variant-numeric: tabular-nums; }
td.c, th.c { text-align: center; }
td.ns { color: #9a6700; font-weight: 600; }
p, li { line-height: 1.45; max-width: 60rem; }
code { background: #eaeef2; padding: 0 .2rem; border-radius: 3px; }
figure { display: inline-block; margin: .5rem 1rem .5rem 0; vertical-align: top; }
figure img { max-width: min(100%, 580px); height: auto; border: 1px solid #d0d7de; }
figcaption { font-size: .85rem; color: #57606a; }
"""
_IMAGE = re.compile(r"!\[(?P<alt>[^\]]*)\]\((?P<src>[^)]+)\)")
_CELL_SPLIT = re.compile(r"(?<!\\)\|")
_CODE = re.compile(r"`([^`]+)`")


def inline(text: str) -> str:
    """Escaped text, with `code` spans as <code>."""
    parts = _CODE.split(text.replace("\\|", "|"))
    return "".join(f"<code>{html.escape(p)}</code>" if i % 2 else html.escape(p) for i, p in enumerate(parts))


def _cells(line: str) -> list[str]:
    line = line.strip().removeprefix("|")
    if line.endswith("|") and not line.endswith("\\|"):
        line = line[:-1]
    return [c.strip() for c in _CELL_SPLIT.split(line)]


def _alignment(cell: str) -> str:
    cell = cell.strip()
    if cell.startswith(":") and cell.endswith(":"):
        return "c"
    return "r" if cell.endswith(":") else ""


def _table(lines: list[str]) -> str:
    header, aligns = _cells(lines[0]), [_alignment(c) for c in _cells(lines[1])]

    def cls(i: int, extra: str = "") -> str:
        names = " ".join(n for n in ((aligns[i] if i < len(aligns) else ""), extra) if n)
        return f' class="{names}"' if names else ""

    out = ["<table>", "<thead><tr>" + "".join(f"<th{cls(i)}>{inline(c)}</th>" for i, c in enumerate(header))
           + "</tr></thead>", "<tbody>"]
    for line in lines[2:]:
        cells = _cells(line)
        out.append("<tr>" + "".join(f"<td{cls(i, 'ns' if c.startswith('≈') else '')}>{inline(c)}</td>"
                                    for i, c in enumerate(cells)) + "</tr>")
    return "\n".join(out + ["</tbody>", "</table>"])


def _figure(alt: str, src: str, images: dict[str, bytes]) -> str:
    data = images.get(src)
    if data is None:  # never a link to a file: the page must stand alone
        return f"<p><em>{inline(alt)} (figure not embedded)</em></p>"
    uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
    return (f'<figure><img src="{uri}" alt="{html.escape(alt, quote=True)}">'
            f"<figcaption>{inline(alt)}</figcaption></figure>")


def markdown_to_html(markdown: str, images: dict[str, bytes]) -> str:
    """The body of the page; ``images`` maps an image path as written in the Markdown to its PNG bytes."""
    out: list[str] = []
    blocks = re.split(r"\n\s*\n", markdown.strip("\n"))
    open_section = False
    for block in blocks:
        lines = [line for line in block.splitlines() if line.strip()]
        if not lines:
            continue
        first = lines[0]
        heading = re.match(r"(#{1,6}) (.*)", first)
        if heading and len(lines) == 1:
            level, text = len(heading.group(1)), heading.group(2)
            if level == 2:
                out.append("</section>" if open_section else "")
                out.append('<section class="reported">' if text == SECTION_TITLE else "<section>")
                open_section = True
            out.append(f"<h{level}>{inline(text)}</h{level}>")
        elif first.startswith("|") and len(lines) >= 2 and set(lines[1].replace("|", "").strip()) <= set("-: "):
            out.append(_table(lines))
        elif all(_IMAGE.fullmatch(line.strip()) for line in lines):
            out += [_figure(m["alt"], m["src"], images) for m in (_IMAGE.fullmatch(x.strip()) for x in lines)]
        elif all(line.startswith("- ") for line in lines):
            out.append("<ul>" + "".join(f"<li>{inline(line[2:])}</li>" for line in lines) + "</ul>")
        else:
            out.append(f"<p>{inline(' '.join(line.strip() for line in lines))}</p>")
    if open_section:
        out.append("</section>")
    return "\n".join(x for x in out if x)


def render_html(markdown: str, images: dict[str, bytes], title: str = "actbench leaderboard") -> str:
    """A complete, self-contained HTML page from the leaderboard's Markdown and its figures."""
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{STYLE}</style>",
        "</head>",
        "<body>",
        "<main>",
        markdown_to_html(markdown, images),
        "</main>",
        "</body>",
        "</html>",
        "",
    ])
