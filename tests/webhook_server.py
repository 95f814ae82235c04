"""A real local HTTP server standing in for a Slack incoming webhook: it records the JSON bodies POSTed to it.

    with webhook_server() as (url, received):
        ...  # point AIRFLOW_CONN_SLACK_ALERTS at url; received fills with the decoded JSON bodies

Answers ``200 ok`` as Slack does (or ``status`` / ``body`` of your choice, e.g. 500 to test failures). Listens on
127.0.0.1 on a free port, in a daemon thread; anything POSTed from another process (a ``dag.test()`` child) lands
in ``received`` too. Bodies that are not JSON are recorded as ``{"_raw": <text>}``.
"""
from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@contextlib.contextmanager
def webhook_server(path: str = "/hook", status: int = 200, body: str = "ok") -> Iterator[tuple[str, list[dict]]]:
    received: list[dict] = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode("utf-8", "replace")
            try:
                payload = json.loads(raw)
            except ValueError:
                payload = {"_raw": raw}
            if self.path != path:
                payload = {"_wrong_path": self.path, **(payload if isinstance(payload, dict) else {})}
            with lock:
                received.append(payload)
            data = body.encode("utf-8")
            self.send_response(status if self.path == path else 404)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args) -> None:  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}{path}", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def wait_for(received: list, count: int = 1, timeout_s: float = 10.0) -> list:
    """``received`` once it holds ``count`` bodies (or after ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    while len(received) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return received
