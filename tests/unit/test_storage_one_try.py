"""boto3 retries nothing under delivery's own loop: one failed upload is one request to the
S3 server (deliver.retry's loop tries again, on spec.delivery.retry, logged)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from bulletin.api.delivery import Storage
from bulletin.deliver.retry import Transient
from bulletin.deliver.storage import ObjectStore


class _Unavailable(BaseHTTPRequestHandler):
    """Answers every request 503 ServiceUnavailable (transient: boto3 would retry it), and
    counts them."""

    seen: list[str] = []

    def _answer(self) -> None:
        self.seen.append(self.command)
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        body = b"<Error><Code>ServiceUnavailable</Code><Message>down</Message></Error>"
        self.send_response(503)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_PUT = do_HEAD = do_GET = do_POST = _answer

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def endpoint() -> Iterator[str]:
    _Unavailable.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Unavailable)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_failed_upload_is_one_request(endpoint: str, tmp_path: Path) -> None:
    storage = Storage.model_validate({"endpoint": endpoint, "bucket": "reports",
                                      "encryption": "none", "credentialsSecretRef": {"name": "s3"}})
    store = ObjectStore(storage, {"accessKeyId": "a", "secretAccessKey": "b",
                                  "endpoint": endpoint}, "s3")
    report = tmp_path / "report.csv"
    report.write_text("a,b\n1,2\n")
    with pytest.raises(Transient, match="HTTP 503"):
        store.put_file("run/report.csv", report, "text/csv")
    assert _Unavailable.seen == ["PUT"]
