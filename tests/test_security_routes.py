"""Attacks on the launched app's HTTP routes: reading server files through Gradio's file route
(traversal, encodings, absolute paths, a symlink planted in the upload folder, URLs), handing the
app a server path as if it were an upload, and uploads over the size limit."""
import os
import socket
import tempfile
from pathlib import Path
from urllib.parse import quote, urlsplit

import httpx
import pytest

from tests.app_support import launch_app
from tests.tiny import tiny_pipeline

SECRET = "TOP SECRET: never served"
UPLOAD_LIMIT = 4096  # bytes, so the over-limit upload is cheap


@pytest.fixture(scope="module")
def app():
    running = launch_app(tiny_pipeline(), max_file_size=UPLOAD_LIMIT)
    yield running
    running.demo.close()


@pytest.fixture(scope="module")
def uploaded(app) -> str:
    """The server path of a file uploaded the normal way (its folder is one the route serves)."""
    answer = httpx.post(f"{app.url}gradio_api/upload", files={"files": ("note.txt", b"hello")})
    assert answer.status_code == 200
    return answer.json()[0]


@pytest.fixture(scope="module")
def secret(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("outside") / "secret.txt"
    path.write_text(SECRET)
    return path


def raw_get(url: str, target: str) -> tuple[int, str]:
    """GET ``target`` exactly as written: HTTP clients would resolve ``../`` before sending it."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as conn:
        conn.sendall(f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode(errors="replace")


def test_the_file_route_serves_uploads(app, uploaded):
    """The positive control: the routes below are the ones that serve files."""
    assert raw_get(app.url, f"/gradio_api/file={uploaded}")[1].endswith("hello")


def attacks(uploaded: str, secret: Path) -> dict[str, str]:
    folder = str(Path(uploaded).parent)
    ups = "../" * 12
    return {
        "absolute /etc/passwd": "/etc/passwd",
        "absolute path of a file outside": str(secret),
        "../ from the upload folder": f"{folder}/{ups}etc/passwd",
        "../ to the file outside": f"{folder}/{ups}{str(secret).lstrip('/')}",
        "relative ../": f"{ups}etc/passwd",
        "URL-encoded ../": f"{folder}/{quote(ups + 'etc/passwd', safe='')}",
        "double-encoded ../": f"{folder}/{quote(quote(ups + 'etc/passwd', safe=''), safe='')}",
        "URL-encoded absolute": quote("/etc/passwd", safe=""),
        "backslashes": f"{folder}\\..\\..\\..\\..\\etc\\passwd",
        "NUL byte": f"{uploaded}%00/../../../../etc/passwd",
        "file: URL": "file:///etc/passwd",
        "the server's own /proc": "/proc/self/environ",
    }


@pytest.mark.parametrize("route", ["/gradio_api/file=", "/gradio_api/file/", "/file="])
def test_no_route_reads_files_outside_the_allowed_folders(app, uploaded, secret, route):
    link = Path(uploaded).parent / "innocent.txt"  # a symlink planted where uploads are served from
    if not link.is_symlink():
        os.symlink(secret, link)
    targets = attacks(uploaded, secret) | {"symlink in the upload folder": str(link)}
    leaked = {}
    for name, target in targets.items():
        status, body = raw_get(app.url, route + target)
        if status == 200 or SECRET in body or "root:" in body:
            leaked[name] = (status, body[:80])
    assert not leaked, leaked


def test_the_file_route_is_no_proxy_to_the_local_network(app):
    port = urlsplit(app.url).port
    for target in (f"http://127.0.0.1:{port}/config", "http://localhost:22/", "http://169.254.169.254/latest/meta-data/"):
        status, _ = raw_get(app.url, f"/gradio_api/file={target}")
        assert status in (403, 404), target


def test_a_server_path_is_not_accepted_as_an_upload(app, secret):
    """An API caller names a server file where an upload belongs; it must not be read."""
    data = ["x", {"path": str(secret), "meta": {"_type": "gradio.FileData"}}, "", "pan_left", "embedded", 8, 2, 9.0, "ddim", 1, "model default", "model default", 0.9]
    posted = httpx.post(f"{app.url}gradio_api/call/draw_motion", json={"data": data})
    events = httpx.get(f"{app.url}gradio_api/call/draw_motion/{posted.json()['event_id']}", timeout=60).text
    assert "event: error" in events and "not uploaded by a user" in events and SECRET not in events


def test_uploads_over_the_size_limit_are_refused(app):
    from ui.app import LAUNCH_OPTIONS
    from vc_core.conditions import DEFAULT_LIMITS

    assert LAUNCH_OPTIONS["max_file_size"] == DEFAULT_LIMITS.max_file_bytes  # the real app sets a limit
    before = set(Path(tempfile.gettempdir(), "gradio").rglob("big.bin"))
    answer = httpx.post(f"{app.url}gradio_api/upload", files={"files": ("big.bin", b"x" * (UPLOAD_LIMIT + 1))})
    assert answer.status_code == 413 and "maximum allowed size" in answer.text
    assert set(Path(tempfile.gettempdir(), "gradio").rglob("big.bin")) == before  # nothing was stored
