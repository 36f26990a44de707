"""``data fetch`` for datasets hosted outside GitHub: unpinned files, archives, request forms.

A local server on 127.0.0.1 serves bytes the test writes; the mirror stands in for the official host,
keeping the host and path in the URL (``<mirror>/<host>/<path>``), so a wrong URL in a table fails.
"""

from __future__ import annotations

import io
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from actbench.datasets import fetch as fetch_module
from actbench.datasets.fetch import ENV_MIRROR, fetch
from actbench.datasets.official_files import OfficialDataset, OfficialFile
from actbench.errors import ActbenchError

URL = "https://example.org/releases/data.zip"


class _Handler(BaseHTTPRequestHandler):
    timeout = 5
    protocol_version = "HTTP/1.1"

    def do_GET(self):  # noqa: N802
        body = self.server.files.get(self.path)  # type: ignore[attr-defined]
        self.server.seen.append(self.path)  # type: ignore[attr-defined]
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def served(monkeypatch):
    monkeypatch.delenv(ENV_MIRROR, raising=False)
    monkeypatch.setattr(fetch_module, "TIMEOUT_S", 5.0)
    monkeypatch.setattr(fetch_module, "RETRY_DELAYS_S", (0.0, 0.0))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.files, httpd.seen = {}, []  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def use_table(monkeypatch, table: OfficialDataset) -> None:
    monkeypatch.setattr(fetch_module, "official_dataset", lambda name: table)


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for name, data in members.items():
            bundle.writestr(name, data)
    return buffer.getvalue()


def test_an_archive_is_unpacked_into_its_folder_through_the_mirror(served, monkeypatch, tmp_path):
    httpd, mirror = served
    httpd.files["/example.org/releases/data.zip"] = zip_bytes({"release/a.csv": b"x,y\n1,2\n", "release/b.txt": b"b"})
    use_table(monkeypatch, OfficialDataset("toy", "CC0", (OfficialFile(None, URL, "release", None, None, unpack=True),)))
    paths = fetch("toy", tmp_path, mirror=mirror)
    assert paths == [tmp_path / "toy" / "release"]
    assert (tmp_path / "toy" / "release" / "release" / "a.csv").read_bytes() == b"x,y\n1,2\n"
    assert sorted(p.name for p in (tmp_path / "toy").iterdir()) == ["release"]  # no stage or archive left
    # Present: not downloaded again.
    fetch("toy", tmp_path, mirror=mirror)
    assert httpd.seen == ["/example.org/releases/data.zip"]


def test_a_tar_gz_is_unpacked_too(served, monkeypatch, tmp_path):
    httpd, mirror = served
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as bundle:
        info = tarfile.TarInfo("ann/x.txt")
        info.size = 3
        bundle.addfile(info, io.BytesIO(b"abc"))
    httpd.files["/example.org/releases/data.zip"] = buffer.getvalue()
    use_table(monkeypatch, OfficialDataset("toy", "CC0", (OfficialFile(None, URL, "ann", None, None, unpack=True),)))
    fetch("toy", tmp_path, mirror=mirror)
    assert (tmp_path / "toy" / "ann" / "ann" / "x.txt").read_bytes() == b"abc"


def test_an_archive_member_outside_the_folder_is_refused_and_nothing_is_left(served, monkeypatch, tmp_path):
    httpd, mirror = served
    httpd.files["/example.org/releases/data.zip"] = zip_bytes({"../evil.txt": b"x"})
    use_table(monkeypatch, OfficialDataset("toy", "CC0", (OfficialFile(None, URL, "release", None, None, unpack=True),)))
    with pytest.raises(ActbenchError) as caught:
        fetch("toy", tmp_path, mirror=mirror)
    assert str(caught.value) == (f"{mirror}/example.org/releases/data.zip: field 'member': expected paths inside "
                                 "the archive's folder, found ../evil.txt")
    assert not (tmp_path / "evil.txt").exists()
    assert [p.name for p in (tmp_path / "toy").iterdir()] == []


def test_a_file_that_is_not_an_archive_is_refused(served, monkeypatch, tmp_path):
    httpd, mirror = served
    httpd.files["/example.org/releases/data.zip"] = b"<html>sign in first</html>"
    use_table(monkeypatch, OfficialDataset("toy", "CC0", (OfficialFile(None, URL, "release", None, None, unpack=True),)))
    with pytest.raises(ActbenchError, match=r"data.zip: field 'content': expected a .zip or .tar\(.gz\) archive"):
        fetch("toy", tmp_path, mirror=mirror)
    assert [p.name for p in (tmp_path / "toy").iterdir()] == []


def test_an_unpinned_file_is_taken_as_served(served, monkeypatch, tmp_path):
    httpd, mirror = served
    httpd.files["/example.org/ann/COIN.json"] = b'{"database": {}}'
    use_table(monkeypatch, OfficialDataset("toy", "MIT", (
        OfficialFile(None, "https://example.org/ann/COIN.json", "COIN.json", None, None),)))
    fetch("toy", tmp_path, mirror=mirror)
    assert (tmp_path / "toy" / "COIN.json").read_bytes() == b'{"database": {}}'


def test_a_dataset_behind_a_form_explains_the_steps_and_downloads_nothing(served, monkeypatch, tmp_path):
    httpd, mirror = served
    use_table(monkeypatch, OfficialDataset("toy", "research only", (), manual="request access at https://x.org/form"))
    with pytest.raises(ActbenchError) as caught:
        fetch("toy", tmp_path, mirror=mirror)
    assert str(caught.value) == (f"toy: the files cannot be downloaded without a licence or request form: request "
                                 f"access at https://x.org/form; place them under {tmp_path / 'toy'}, then run "
                                 "`actbench data check toy`")
    assert httpd.seen == []


def test_the_mirror_keeps_the_host_for_urls_outside_github():
    f = OfficialFile(None, "https://dl.example.com/a/b.zip", "b", None, None, unpack=True)
    assert f.url() == "https://dl.example.com/a/b.zip"
    assert f.url("http://127.0.0.1:9/") == "http://127.0.0.1:9/dl.example.com/a/b.zip"
