"""Headless Chromium driven over its DevTools pipe (fds 3 and 4, NUL-separated JSON):
load a page and await a JavaScript promise in it, without any client library."""
from __future__ import annotations

import fcntl
import json
import os
import signal
import select
import subprocess
import tempfile
import time

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync"]


class Browser:
    def __init__(self, chromium: str):
        self._profile = tempfile.TemporaryDirectory(dir="/tmp")
        to_child, self._send_fd = os.pipe()
        self._recv_fd, from_child = os.pipe()

        def wire_fds():  # the DevTools pipe: the browser reads fd 3 and writes fd 4
            high_in, high_out = (fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_child, from_child))
            os.dup2(high_in, 3)     # inheritable; every other fd of ours is close-on-exec
            os.dup2(high_out, 4)

        self.proc = subprocess.Popen(
            [chromium, *FLAGS, f"--user-data-dir={self._profile.name}", "--remote-debugging-pipe",
             "about:blank"], close_fds=False, preexec_fn=wire_fds, start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_child)
        os.close(from_child)
        self._buffer, self._next_id = b"", 0

    def call(self, method: str, params: dict | None = None, session: str | None = None,
             timeout_s: float = 30.0) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._send_fd, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout_s
        while True:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                reply = json.loads(raw)
                if reply.get("id") == self._next_id:
                    if "error" in reply:
                        raise RuntimeError(f"{method}: {reply['error']}")
                    return reply["result"]
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self._recv_fd], [], [], remaining)[0]:
                raise TimeoutError(f"{method}: no reply from chromium in {timeout_s} s")
            chunk = os.read(self._recv_fd, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed its DevTools pipe")
            self._buffer += chunk

    def await_in_page(self, url: str, expression: str, timeout_s: float) -> object:
        """Open `url`, then the value of the promise `expression` evaluates to."""
        target = self.call("Target.createTarget", {"url": url})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:  # until the page's script has defined the promise
            ready = self.call("Runtime.evaluate", {"expression": f"typeof ({expression})",
                                                  "returnByValue": True}, session)
            if ready["result"].get("value") == "object":
                break
            time.sleep(0.1)
        result = self.call("Runtime.evaluate", {"expression": expression, "awaitPromise": True,
                                                "returnByValue": True}, session,
                           timeout_s=max(1.0, deadline - time.monotonic()))
        if "exceptionDetails" in result:
            raise RuntimeError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def close(self) -> None:
        """Kill chromium's whole process group and wait for it: its renderer and GPU
        processes outlive the browser process and kept writing into the profile being
        removed ('Directory not empty')."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.killpg(self.proc.pid, 0)  # anyone left in the group?
            except ProcessLookupError:
                break
            time.sleep(0.05)
        for fd in (self._send_fd, self._recv_fd):
            os.close(fd)
        self._profile.cleanup()

    def __enter__(self) -> "Browser":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
