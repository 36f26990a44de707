"""``actbench data fetch`` against a local HTTP server that serves ../shared/data under the official paths.

The server maps ``/<owner>/<repo>/<branch>/<path>`` to the local copy with its own prefix table (written
here, independently of ``official_files``), so a wrong repository, branch or path in the table fails the
fetch. It counts requests per path and can serve wrong bytes or error statuses for chosen paths.
"""

from __future__ import annotations

import filecmp
import hashlib
import os
import re
import stat
import threading
import urllib.parse
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from actbench.cli import app
from actbench.datasets import fetch as fetch_module
from actbench.datasets import official_files
from actbench.datasets.fetch import ENV_MIRROR, FetchEvent, fetch
from actbench.datasets.official_files import DATASETS, GITHUB_RAW
from actbench.errors import ActbenchError

# Official location (README of ../shared/data) -> folder of the local copy.
OFFICIAL_PREFIXES = {
    "/epic-kitchens/epic-kitchens-100-annotations/master/": "epic-kitchens-100/annotations/",
    "/epic-kitchens/C2-Action-Detection/master/BMNProposalGenerator/data/ek100/":
        "epic-kitchens-100/C2-Action-Detection/",
    "/facebookresearch/ego4d-goalstep/main/data/": "ego4d-goalstep/",
    "/facebookresearch/ego4d-goalstep/main/LICENSE": "ego4d-goalstep/LICENSE",
}
EK = "epic-kitchens-100"
VALIDATION_URL_PATH = "/epic-kitchens/epic-kitchens-100-annotations/master/EPIC_100_validation.csv"
GOALSTEP_URL_PATH = "/facebookresearch/ego4d-goalstep/main/data/goalstep_valid.json"


class StaticServer:
    """State shared by the handler threads: routes, request counts, and scripted misbehaviour."""

    def __init__(self, root: Path):
        self.root = root.resolve()
        self.requests: Counter[str] = Counter()
        self.corrupt: dict[str, bytes] = {}  # path -> bytes served instead of the file (always)
        self.statuses: dict[str, list[int]] = {}  # path -> error statuses for the next requests
        self.lock = threading.Lock()
        self.url = ""

    def local_file(self, path: str) -> Path | None:
        for prefix, folder in OFFICIAL_PREFIXES.items():
            if path.startswith(prefix):
                local = (self.root / (folder + path[len(prefix):])).resolve()
                if local.is_relative_to(self.root) and local.is_file():
                    return local
        return None


class _Handler(BaseHTTPRequestHandler):
    timeout = 5  # seconds per socket operation: a stuck client cannot hold a thread forever
    protocol_version = "HTTP/1.1"

    def do_GET(self):  # noqa: N802 (http.server's naming)
        state: StaticServer = self.server.state  # type: ignore[attr-defined]
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        with state.lock:
            state.requests[path] += 1
            pending = state.statuses.get(path)
            status = pending.pop(0) if pending else 200
        local = state.local_file(path)
        if status == 200 and local is None:
            status = 404
        if status != 200:
            self.send_error(status)
            return
        body = state.corrupt.get(path, local.read_bytes())
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):  # keep pytest output clean
        pass


@pytest.fixture
def server(data_dir):
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.state = StaticServer(data_dir)  # type: ignore[attr-defined]
    httpd.state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield httpd.state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    """No test may reach the real host or wait long: no mirror from the environment, short timeouts."""
    monkeypatch.delenv(ENV_MIRROR, raising=False)
    monkeypatch.setattr(fetch_module, "TIMEOUT_S", 5.0)
    monkeypatch.setattr(fetch_module, "RETRY_DELAYS_S", (0.0, 0.0))


def all_files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def total_requests(state: StaticServer) -> int:
    return sum(state.requests.values())


# -- the table -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(DATASETS))
def test_table_lists_every_local_file_with_its_size(data_dir, name):
    table = DATASETS[name]
    assert sorted(f.dest for f in table.files) == all_files(data_dir / name)
    for f in table.files:
        local = data_dir / name / f.dest
        assert (local.stat().st_size, hashlib.sha256(local.read_bytes()).hexdigest()) == (f.size, f.sha256)


def test_table_names_only_the_official_github_raw_host():
    urls = [f.url() for d in DATASETS.values() for f in d.files]
    assert all(u.startswith(GITHUB_RAW + "/") for u in urls)
    assert {u.split("/")[3] + "/" + u.split("/")[4] for u in urls} == {
        "epic-kitchens/epic-kitchens-100-annotations", "epic-kitchens/C2-Action-Detection",
        "facebookresearch/ego4d-goalstep"}
    source = Path(official_files.__file__).read_text(encoding="utf-8")
    assert set(re.findall(r"https?://[^/\s\"']+", source)) == {GITHUB_RAW, "http://127.0.0.1:8000"}


def test_table_covers_the_files_the_epic_loader_reads():
    from actbench.datasets.epic_kitchens import FILES

    dests = {f.dest for f in DATASETS[EK].files}
    assert {path for key, path in FILES.items() if key != "train_full"} <= dests


# -- fetching --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(DATASETS))
def test_full_fetch_gives_byte_identical_files(server, data_dir, tmp_path, name):
    events: list[FetchEvent] = []
    paths = fetch(name, tmp_path, mirror=server.url, progress=events.append)
    assert paths == [tmp_path / name / f.dest for f in DATASETS[name].files]
    assert all_files(tmp_path / name) == all_files(data_dir / name)  # no temp file left over
    for path in paths:
        assert filecmp.cmp(path, data_dir / name / path.relative_to(tmp_path / name), shallow=False)
    assert [e.status for e in events] == ["fetched"] * len(paths)
    assert total_requests(server) == len(paths)


def test_fetched_files_get_an_ordinary_mode(server, tmp_path):
    umask = os.umask(0)
    os.umask(umask)
    for path in fetch("ego4d-goalstep", tmp_path, mirror=server.url):
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


def test_second_fetch_downloads_nothing_and_force_downloads_again(server, tmp_path):
    n = len(fetch(EK, tmp_path, mirror=server.url))
    assert total_requests(server) == n
    events: list[FetchEvent] = []
    fetch(EK, tmp_path, mirror=server.url, progress=events.append)
    assert total_requests(server) == n
    assert {e.status for e in events} == {"present"} and all(e.url is None for e in events)
    events.clear()
    fetch(EK, tmp_path, mirror=server.url, force=True, progress=events.append)
    assert total_requests(server) == 2 * n
    assert {e.status for e in events} == {"replaced"}


def test_a_local_file_with_other_bytes_is_replaced(server, data_dir, tmp_path):
    fetch("ego4d-goalstep", tmp_path, mirror=server.url)
    target = tmp_path / "ego4d-goalstep" / "LICENSE"
    target.write_text("edited\n")
    events: list[FetchEvent] = []
    fetch("ego4d-goalstep", tmp_path, mirror=server.url, progress=events.append)
    assert [e.status for e in events] == ["present", "replaced"]
    assert target.read_bytes() == (data_dir / "ego4d-goalstep" / "LICENSE").read_bytes()


def _flip_one_byte(data: bytes) -> bytes:
    return data[:100] + bytes([data[100] ^ 1]) + data[101:]


@pytest.mark.parametrize("damage", [_flip_one_byte, lambda d: d[:-10], lambda d: d + b"x" * 100_000],
                         ids=["flipped-byte", "truncated", "too-long"])
def test_wrong_bytes_are_refused_and_leave_nothing_behind(server, data_dir, tmp_path, damage):
    official = (data_dir / EK / "annotations" / "EPIC_100_validation.csv").read_bytes()
    server.corrupt[VALIDATION_URL_PATH] = damage(official)
    with pytest.raises(ActbenchError) as caught:
        fetch(EK, tmp_path, mirror=server.url)
    message = str(caught.value)
    assert "\n" not in message
    assert server.url + VALIDATION_URL_PATH in message and "EPIC_100_validation.csv" in message
    table = {f.dest: f for f in DATASETS[EK].files}
    assert f"expected {len(official)} bytes with sha256 {table['annotations/EPIC_100_validation.csv'].sha256}" \
        in message
    assert "found" in message
    annotations = tmp_path / EK / "annotations"
    assert not (annotations / "EPIC_100_validation.csv").exists()
    assert not [p for p in annotations.iterdir() if p.name.startswith(".")]  # no temp file
    # The files verified before it stay, correct; nothing after it was requested.
    order = [f.dest for f in DATASETS[EK].files]
    before = order[: order.index("annotations/EPIC_100_validation.csv")]
    assert all_files(tmp_path / EK) == sorted(before)
    assert server.requests[VALIDATION_URL_PATH] == 1  # bad bytes are not retried


def test_http_404_is_reported_with_the_url_and_leaves_nothing_behind(server, tmp_path):
    server.statuses[GOALSTEP_URL_PATH] = [404]
    with pytest.raises(ActbenchError) as caught:
        fetch("ego4d-goalstep", tmp_path, mirror=server.url)
    message = str(caught.value)
    assert message.startswith(server.url + GOALSTEP_URL_PATH + ": HTTP 404")
    assert "goalstep_valid.json" in message and "expected" in message
    assert all_files(tmp_path) == []
    assert server.requests[GOALSTEP_URL_PATH] == 1  # a 404 is not retried


def test_transient_server_errors_are_retried(server, data_dir, tmp_path):
    server.statuses[GOALSTEP_URL_PATH] = [503, 500]
    paths = fetch("ego4d-goalstep", tmp_path, mirror=server.url)
    assert server.requests[GOALSTEP_URL_PATH] == 3
    assert paths[0].read_bytes() == (data_dir / "ego4d-goalstep" / "goalstep_valid.json").read_bytes()


def test_persistent_server_errors_give_up_after_the_attempts(server, tmp_path):
    server.statuses[GOALSTEP_URL_PATH] = [503] * 10
    with pytest.raises(ActbenchError, match=r"HTTP 503 .*goalstep_valid\.json"):
        fetch("ego4d-goalstep", tmp_path, mirror=server.url)
    assert server.requests[GOALSTEP_URL_PATH] == fetch_module.ATTEMPTS
    assert all_files(tmp_path) == []


def test_unreachable_mirror_gives_up_with_the_url(tmp_path):
    with pytest.raises(ActbenchError, match=r"^http://127\.0\.0\.1:9/.*download failed after 3 attempts"):
        fetch("ego4d-goalstep", tmp_path, mirror="http://127.0.0.1:9")  # discard port: refused
    assert all_files(tmp_path) == []


def test_mirror_from_the_environment(server, tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_MIRROR, server.url + "/")
    assert len(fetch("ego4d-goalstep", tmp_path)) == 2
    assert total_requests(server) == 2


@pytest.mark.parametrize("mirror", ["ftp://example.org", "127.0.0.1:8000", "file:///tmp"])
def test_a_mirror_that_is_not_http_is_refused(tmp_path, mirror):
    with pytest.raises(ActbenchError, match=r"^--mirror: expected an http:// or https:// base URL"):
        fetch("ego4d-goalstep", tmp_path, mirror=mirror)


def test_unknown_dataset_names_the_known_ones(tmp_path):
    with pytest.raises(ActbenchError) as caught:
        fetch("epic-kitchens-55", tmp_path)
    assert str(caught.value) == ("unknown dataset 'epic-kitchens-55'; did you mean 'epic-kitchens-100'? "
                                 "(known: epic-kitchens-100, ego4d-goalstep, animal-kingdom, breakfast, coin, crosstask, "
                                 "meccano, thumos14)")


# -- the command line ------------------------------------------------------------------------------------

def test_cli_fetch_then_fetch_again(server, tmp_path):
    runner = CliRunner()
    args = ["data", "fetch", "ego4d-goalstep", "--data-dir", str(tmp_path), "--mirror", server.url]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert first.stdout.count("fetched ") == 2
    assert "ego4d-goalstep: 2 files in" in first.stdout and "(2 downloaded, 0 already present)" in first.stdout
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert again.stdout.count("present ") == 2 and "(0 downloaded, 2 already present)" in again.stdout
    assert total_requests(server) == 2


@pytest.mark.parametrize("case", ["unknown-dataset", "not-found"])
def test_cli_user_errors_exit_2_with_one_line(server, tmp_path, case):
    dataset = "ego4d" if case == "unknown-dataset" else "ego4d-goalstep"
    if case == "not-found":
        server.statuses[GOALSTEP_URL_PATH] = [404]
    result = CliRunner().invoke(app, ["data", "fetch", dataset, "--data-dir", str(tmp_path),
                                      "--mirror", server.url])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("actbench: error: ")
    expected = "unknown dataset 'ego4d'" if case == "unknown-dataset" else "HTTP 404"
    assert expected in result.stderr
    assert all_files(tmp_path) == []


def test_cli_where_follows_the_precedence_rule(tmp_path, monkeypatch):
    runner = CliRunner()
    monkeypatch.setenv("ACTBENCH_DATA_DIR", str(tmp_path / "from-env"))
    assert runner.invoke(app, ["data", "where"]).stdout == f"{tmp_path / 'from-env'}\n"
    result = runner.invoke(app, ["data", "where", "--data-dir", str(tmp_path / "given")])
    assert result.exit_code == 0 and result.stdout == f"{tmp_path / 'given'}\n"
