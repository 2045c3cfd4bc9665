"""A local HTTP server that records JSON POSTs, for the alert webhook tests."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class WebhookServer:
    """Serves on 127.0.0.1; answers ``status`` after ``delay`` seconds; keeps each body."""

    def __init__(self, *, status: int = 200, delay: float = 0.0) -> None:
        self.status = status
        self.delay = delay
        self.received: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with server.lock:
                    server.received.append(json.loads(body))
                time.sleep(server.delay)  # a slow endpoint, on purpose
                self.send_response(server.status)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return  # keep the test output quiet

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"

    def states(self) -> list[tuple[str, str]]:
        with self.lock:
            return [(body["state"], body["rule"]) for body in self.received]


@contextmanager
def webhook_server(*, status: int = 200, delay: float = 0.0) -> Iterator[WebhookServer]:
    """Run a :class:`WebhookServer` in a thread for the block."""
    server = WebhookServer(status=status, delay=delay)
    thread = threading.Thread(target=server.httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()
        thread.join(timeout=10)
