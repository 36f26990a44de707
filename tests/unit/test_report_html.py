"""leaderboard.html and the PNG figures: valid, byte-deterministic, self-contained, escaped, and rendered
by headless Chromium with every image loaded (skipped without Chromium, failed under CI)."""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

from actbench.reports.html import CSP
from actbench.reports.leaderboard import FIGURES_DIR, write_leaderboard
from actbench.reports.plots import (
    DPI,
    accuracy_latency_png,
    confusion_png,
    letter_distribution_png,
)
from tests.unit.test_report_analysis import results  # noqa: F401  (the constructed runs, a fixture)

PIL = pytest.importorskip("PIL.Image")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ODD = '<b>odd|"model"</b> & co'


@pytest.fixture(scope="module")
def report(results, tmp_path_factory):  # noqa: F811
    out = tmp_path_factory.mktemp("html")
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(sys.modules, "actbench.reports.difficulty_report", None)  # no difficulty section here
        write_leaderboard(results / "runs", out)
    return out


def _figures(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / FIGURES_DIR).glob("*.png"))}


def test_every_figure_is_a_valid_png_of_the_fixed_size_and_linked(report):
    figures = _figures(report)
    # hand: letters, accuracy-latency, a heat map per run (3); lost: letters, accuracy-latency (its answer key
    # is not found, so no heat map); sig: letters, accuracy-latency, a heat map per run (4).
    assert len(figures) == 13
    assert {"letters-hand.png", "accuracy-latency-sig.png", "confusion-verbs-hand-b-odd-model-b-co.png"} <= set(figures)
    md = (report / "leaderboard.md").read_text()
    for name, data in figures.items():
        image = PIL.open(report / FIGURES_DIR / name)
        image.verify()
        assert image.format == "PNG"
        assert f"]({FIGURES_DIR}/{name})" in md
        assert b"matplotlib" not in data.lower()  # no Software chunk: no version string
    assert PIL.open(report / FIGURES_DIR / "accuracy-latency-sig.png").size == (int(6.5 * DPI), int(4.5 * DPI))


def test_each_figure_drawn_twice_is_byte_identical():
    def draw():
        return (letter_distribution_png("b", ["A", "B"], [("m", [60.0, 40.0])], [50.0, 50.0]),
                accuracy_latency_png("b", [("m", 0.0, 50.0, 40.0, 60.0), ("n", 1.5, 70.0, 60.0, 80.0)]),
                confusion_png("t", ["0 take", "1 put"], [[3, 1], [0, 2]], xlabel="x", ylabel="y"))

    assert draw() == draw()


def test_the_page_stands_alone_and_escapes_every_text(report):
    page = (report / "leaderboard.html").read_text()
    assert f'content="{CSP}"' in page
    assert not re.search(r"https?://", page)
    sources = re.findall(r'<img src="([^"]*)"', page)
    assert len(sources) == 13 and all(s.startswith("data:image/png;base64,") for s in sources)
    assert "<link" not in page and "<script" not in page
    assert html.escape(ODD) in page and ODD not in page
    assert '<section class="reported">' in page  # the papers' numbers, apart from the measured rows
    assert page.index('<section class="reported">') > page.rindex("<h2>sig</h2>")


PROBE = """<script>addEventListener("load", () => {
  const images = [...document.images];
  document.body.dataset.images = images.length;
  document.body.dataset.loaded = images.filter(i => i.complete && i.naturalWidth > 0).length;
  document.body.dataset.rows = document.querySelectorAll("tbody tr").length;
});</script>"""


def _render(page: str, tmp: Path) -> tuple[dict[str, int], str]:
    """Open ``page`` in headless Chromium with a probe script added; what the probe counted after load.

    The copy allows the probe's inline script and nothing else: images stay limited to data: URIs by
    the page's own policy, so an image from anywhere else would not load and the count would show it.
    """
    probe = page.replace("script-src 'none'", "script-src 'unsafe-inline'").replace("</body>", PROBE + "</body>")
    path = tmp / "probe.html"
    path.write_text(probe, encoding="utf-8")
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={tmp / 'profile'}", "--virtual-time-budget=5000", "--dump-dom", path.as_uri()]
    dom = subprocess.run(command, check=False, capture_output=True, text=True, timeout=60).stdout
    body = re.search(r"<body([^>]*)>", dom)
    assert body, f"chromium printed no DOM: {dom[:200]!r}"
    found = dict(re.findall(r'data-(\w+)="(\d+)"', body.group(1)))
    assert set(found) == {"images", "loaded", "rows"}, body.group(0)
    return {k: int(v) for k, v in found.items()}, dom


@pytest.mark.skipif(not CHROMIUM and not os.environ.get("CI"), reason="chromium not installed")
def test_chromium_renders_the_page_and_loads_every_image(report, tmp_path):
    assert CHROMIUM, "CI must run the Chromium test: install Debian's chromium (see .ci/run)"
    page = (report / "leaderboard.html").read_text()
    rows = page.count("<tr>") - page.count("<thead><tr>")  # body rows of every table, the papers' included
    assert rows > 3 + 3 + 1 + 4 + 4  # measured rows and error-diversity rows at least
    seen, dom = _render(page, tmp_path)
    assert seen == {"images": 13, "loaded": 13, "rows": rows}
    assert f"<td>{html.escape(ODD, quote=False)}</td>" in dom and "<td>weak</td>" in dom
    # The check can fail: a valid PNG next to the page, not embedded, is blocked by the page's policy.
    shutil.copy(report / FIGURES_DIR / "letters-hand.png", tmp_path / "outside.png")
    outside = page.replace("<main>", '<main><img src="outside.png" alt="outside">', 1)
    assert _render(outside, tmp_path)[0] == {"images": 14, "loaded": 13, "rows": rows}


def test_cli_report_writes_every_format(results, tmp_path, monkeypatch):  # noqa: F811
    from typer.testing import CliRunner

    from actbench.cli import app

    monkeypatch.setitem(sys.modules, "actbench.reports.difficulty_report", types.ModuleType("none"))
    sys.modules["actbench.reports.difficulty_report"].difficulty_section = lambda *a: ("", [])
    result = CliRunner().invoke(app, ["report", str(results / "runs"), "--out", str(tmp_path), "--format", "md",
                                      "--format", "csv", "--seed", "1"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["leaderboard.csv", "leaderboard.md"]
    assert "seed 1)" in (tmp_path / "leaderboard.md").read_text()
    assert "note: lost: benchmark directory not found" in result.stderr
    result = CliRunner().invoke(app, ["report", str(results / "runs"), "--out", str(tmp_path), "--format", "pdf"])
    assert result.exit_code == 2
    assert "field 'format': expected md or csv or html or png, found pdf" in result.stderr
