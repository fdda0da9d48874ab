"""A live page on 127.0.0.1: MJPEG video (multipart/x-mixed-replace) and a JSON stats endpoint.

`/frame.jpg?after=SEQ` waits for an image newer than SEQ and says what it shows in the
`X-Edge-View` header (frame, and each drawn result's frame and strings); `/?log=N` is the
page stepping through N such images and listing them, for checking the view frame by frame.

The node loop encodes JPEGs and puts them in a lock-protected latest-frame slot; HTTP
threads only read that slot, never a zmq socket. The slot also says whether anyone is
watching, so the node does not draw and encode frames nobody will see.
"""
from __future__ import annotations

import json
import logging
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional

log = logging.getLogger("nodes.visualizer.web")

BOUNDARY = "edgeframe"
WATCH_WINDOW_S = 3.0   # a viewer counts as watching this long after its last request
WAIT_S = 1.0           # how long a stream waits for a frame before checking for shutdown
REQUEST_TIMEOUT_S = 10.0  # a connection that sends no request, or stops reading, is closed
MAX_CONNECTIONS = 32   # each has a thread; more are closed as they come

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>{title}</title>
<style>
 body {{ background:#15181c; color:#e6e6e6; font:14px system-ui, sans-serif; margin:16px; }}
 h1 {{ font-size:18px; margin:0 0 10px; }}
 #video {{ display:block; max-width:100%; border:1px solid #444; background:#000;
          min-width:320px; min-height:240px; }}
 table {{ border-collapse:collapse; margin-top:10px; }}
 td {{ padding:2px 14px 2px 0; }} td.v {{ font-family:monospace; text-align:right; }}
</style></head>
<body><h1>{title}</h1>
<img id="video" alt="live video">
<table id="stats"><tr><td>waiting for stats...</td></tr></table>
<pre id="log"></pre>
<script>
async function poll() {{
  try {{
    const stats = await (await fetch("stats.json", {{cache: "no-store"}})).json();
    const rows = Object.entries(stats).map(([k, v]) =>
      `<tr><td>${{k}}</td><td class="v">${{typeof v === "number" ? +v.toFixed(2) : v}}</td></tr>`);
    document.getElementById("stats").innerHTML = rows.join("");
  }} catch (e) {{}}
}}
const logCount = +new URLSearchParams(location.search).get("log");
if (!logCount) {{
  document.getElementById("video").src = "stream.mjpg";
  poll(); setInterval(poll, 1000);
}}
async function frameLog() {{
  const img = document.getElementById("video"), out = document.getElementById("log");
  let seq = 0;
  const entries = [];
  for (let i = 0; i < logCount; i++) {{
    const reply = await fetch(`frame.jpg?after=${{seq}}`, {{cache: "no-store"}});
    if (reply.status !== 200) {{ i--; continue; }}
    seq = +reply.headers.get("X-Edge-Seq");
    const view = reply.headers.get("X-Edge-View");   // kept as text: ns stamps exceed JS numbers
    const blob = await reply.blob();
    const shownUrl = URL.createObjectURL(blob);
    await new Promise(done => {{ img.onload = img.onerror = done; img.src = shownUrl; }});
    const bytes = new Uint8Array(await blob.arrayBuffer());
    let binary = "";
    for (let at = 0; at < bytes.length; at += 8192)
      binary += String.fromCharCode.apply(null, bytes.subarray(at, at + 8192));
    entries.push({{view: view, shown: [img.naturalWidth, img.naturalHeight], jpeg: btoa(binary)}});
    out.textContent += `${{seq}} ${{view}}\n`;
    URL.revokeObjectURL(shownUrl);
  }}
  document.title = "frame log done";
  return entries;
}}
if (logCount > 0) window.frameLog = frameLog();   // a promise of [{{view, shown, jpeg}}]
</script></body></html>
"""


class LatestFrame:
    """The newest JPEG and stats JSON, shared between the node loop and HTTP threads."""

    def __init__(self):
        self._cond = threading.Condition()
        self._jpeg: Optional[bytes] = None
        self._view = b"{}"
        self._seq = 0
        self._stats = b"{}"
        self._watched_at = float("-inf")
        self.closed = False

    def put(self, jpeg: bytes, view: Optional[dict] = None) -> None:
        """A new image and what it shows (frame and results; see View._choose)."""
        data = json.dumps(view or {}).encode()  # ASCII: fits an HTTP header
        with self._cond:
            self._jpeg, self._view, self._seq = jpeg, data, self._seq + 1
            self._cond.notify_all()

    def put_stats(self, stats: dict) -> None:
        data = json.dumps(stats).encode()
        with self._cond:
            self._stats = data

    def stats(self) -> bytes:
        with self._cond:
            return self._stats

    def next_after(self, seq: int, timeout_s: float) -> tuple[Optional[bytes], int]:
        """A frame newer than `seq` (waiting up to `timeout_s`), or (None, seq)."""
        jpeg, seq, _ = self.next_view_after(seq, timeout_s)
        return jpeg, seq

    def next_view_after(self, seq: int, timeout_s: float) -> tuple[Optional[bytes], int, bytes]:
        """(jpeg, seq, view JSON) newer than `seq`, or (None, seq, b"{}") after `timeout_s`."""
        with self._cond:
            self._watched_at = time.monotonic()
            self._cond.wait_for(lambda: self._seq > seq or self.closed, timeout_s)
            if self._seq > seq and not self.closed:
                return self._jpeg, self._seq, self._view
            return None, seq, b"{}"

    def watched(self) -> bool:
        with self._cond:
            return time.monotonic() - self._watched_at < WATCH_WINDOW_S

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()


class _Handler(BaseHTTPRequestHandler):
    slot: LatestFrame
    page: bytes
    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path in ("/", "/index.html"):
            self._send(200, "text/html; charset=utf-8", self.page)
        elif path == "/stats.json":
            self._send(200, "application/json", self.slot.stats())
        elif path == "/frame.jpg":
            self._frame()
        elif path == "/stream.mjpg":
            self._stream()
        else:
            self._send(404, "text/plain", b"not found\n")

    def _frame(self) -> None:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        try:
            after = int(query.get("after", ["0"])[0])
        except ValueError:
            self._send(400, "text/plain", b"after must be an integer\n")
            return
        jpeg, seq, view = self.slot.next_view_after(after, 2 * WAIT_S)
        if jpeg is None:
            self._send(503, "text/plain", b"no new frame yet\n")
        else:
            self._send(200, "image/jpeg", jpeg, {"X-Edge-Seq": str(seq), "X-Edge-View": view.decode()})

    def _send(self, status: int, content_type: str, body: bytes, headers: Optional[dict] = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        seq = 0
        try:
            while not self.slot.closed:
                jpeg, seq = self.slot.next_after(seq, WAIT_S)
                if jpeg is None:
                    continue
                self.wfile.write(f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                                 f"Content-Length: {len(jpeg)}\r\n\r\n".encode())
                self.wfile.write(jpeg)
                self.wfile.write(b"\r\n")
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass  # the viewer went away, or stopped reading

    def log_message(self, format: str, *args) -> None:
        log.debug("%s %s", self.address_string(), format % args)


class _BoundedServer(ThreadingHTTPServer):
    """A thread per connection, at most `max_connections` at once: one over is closed
    without an answer (a viewer's browser tries again), so a flood of connections costs
    no more threads than that."""

    daemon_threads = True

    def __init__(self, address: tuple, handler: type, max_connections: int):
        super().__init__(address, handler)
        self._slots = threading.BoundedSemaphore(max_connections)

    def process_request(self, request, client_address) -> None:
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


class WebView:
    """ThreadingHTTPServer on its own daemon thread; `close` returns within a few seconds."""

    def __init__(self, slot: LatestFrame, host: str = "127.0.0.1", port: int = 0,
                 title: str = "edge visualizer", request_timeout_s: float = REQUEST_TIMEOUT_S,
                 max_connections: int = MAX_CONNECTIONS):
        # each connection has a thread: idle ones (no request, or no reading) must not pile up
        handler = type("Handler", (_Handler,), {
            "slot": slot, "page": PAGE.format(title=title).encode(), "timeout": request_timeout_s})
        self.slot = slot
        self.server = _BoundedServer((host, port), handler, max_connections)
        self._thread = threading.Thread(target=self.server.serve_forever, name="visualizer-http",
                                        kwargs={"poll_interval": 0.2}, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/"

    def close(self) -> None:
        self.slot.close()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=2.0)
