"""A custom report.html is attacker input: WeasyPrint may load data: URIs and files of the
template directory, nothing else (no local files, no network, no symlinks out)."""

from __future__ import annotations

import base64
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from bulletin.render.templates import TemplateFailure
from pypdf import PdfReader
from report_support import build, make_spec

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A listening socket nobody accepts on: any connection attempt stays in its backlog."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    yield sock
    sock.close()


def connections(sock: socket.socket) -> int:
    """How many connections reached ``sock``."""
    sock.setblocking(False)
    count = 0
    while True:
        try:
            sock.accept()[0].close()
        except BlockingIOError:
            return count
        count += 1


def _templates(tmp_path: Path, body: str) -> Path:
    templates = tmp_path / "templates"
    templates.mkdir(parents=True, exist_ok=True)
    (templates / "report.html").write_text(f"<html><body><h1>{{{{ title }}}}</h1>{body}"
                                           "</body></html>")
    return templates


def _pdf(tmp_path: Path, body: str) -> Path:
    templates = _templates(tmp_path, body)
    build(tmp_path / "out", make_spec(formats=["pdf"]), templates_dir=templates)
    return tmp_path / "out" / "weekly-usage.pdf"


def _refused(tmp_path: Path, body: str) -> str:
    with pytest.raises(TemplateFailure) as caught:
        _pdf(tmp_path, body)
    return str(caught.value)


def test_an_attachment_of_proc_self_environ_fails_the_run(tmp_path: Path) -> None:
    message = _refused(tmp_path, '<a rel="attachment" href="file:///proc/self/environ">x</a>')
    assert message.startswith("template report.html: ")
    assert "file URL" in message and "outside the template directory" in message
    assert not (tmp_path / "out" / "weekly-usage.pdf").exists()


def test_an_image_of_etc_passwd_fails_the_run(tmp_path: Path) -> None:
    message = _refused(tmp_path, '<img src="file:///etc/passwd">')
    assert "file URL" in message and "root:" not in message


def test_a_relative_path_out_of_the_template_directory_fails(tmp_path: Path) -> None:
    message = _refused(tmp_path, '<img src="../../../../../../etc/hostname">')
    assert "file URL" in message


def test_an_http_url_fails_and_the_server_gets_no_request(
        tmp_path: Path, listener: socket.socket) -> None:
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/logo.png"
    message = _refused(tmp_path, f'<link rel="stylesheet" href="{url}"><img src="{url}">')
    assert "http URL (host 127.0.0.1)" in message
    assert connections(listener) == 0


def test_a_symlink_out_of_the_template_directory_fails(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    templates = _templates(tmp_path, '<a rel="attachment" href="notes.txt">notes</a>')
    (templates / "notes.txt").symlink_to(secret)
    with pytest.raises(TemplateFailure, match="outside the template directory"):
        build(tmp_path / "out", make_spec(formats=["pdf"]), templates_dir=templates)


def test_data_uris_and_template_files_still_load(tmp_path: Path) -> None:
    data_uri = "data:image/png;base64," + base64.b64encode(PNG).decode()
    templates = _templates(tmp_path, f'<img alt="a" src="{data_uri}"><img alt="b" src="logo.png">'
                                     '<a rel="attachment" href="notes.txt">notes</a>')
    (templates / "logo.png").write_bytes(PNG)
    (templates / "notes.txt").write_text("attached notes")
    build(tmp_path / "out", make_spec(formats=["pdf"]), templates_dir=templates)
    reader = PdfReader(tmp_path / "out" / "weekly-usage.pdf")
    files = [a.get_object()["/FS"].get_object()["/EF"]["/F"].get_object().get_data()
             for page in reader.pages for a in page.get("/Annots") or []]
    assert files == [b"attached notes"]


def test_a_template_symlinked_out_of_its_directory_is_not_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "subject.txt").symlink_to(secret)
    with pytest.raises(TemplateFailure, match="outside the template directory") as caught:
        build(tmp_path / "out", make_spec(formats=["csv"]), templates_dir=templates)
    assert "top secret" not in str(caught.value)


def test_configmap_style_links_inside_the_directory_still_work(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    (templates / "..2026_01_01").mkdir(parents=True)
    (templates / "..2026_01_01" / "subject.txt").write_text("Custom {{ title }}")
    (templates / "..data").symlink_to("..2026_01_01")
    (templates / "subject.txt").symlink_to("..data/subject.txt")
    built = build(tmp_path / "out", make_spec(formats=["csv"]), templates_dir=templates)
    assert built.email.subject == "Custom Weekly usage"
