"""A minimal WebSocket client (RFC 6455) for tests: handshake, read frames, send masked text."""
from __future__ import annotations

import base64
import json
import os
import socket
import struct


class WebSocket:
    def __init__(self, host: str, port: int, protocol: str, timeout_s: float = 10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout_s)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET / HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                           f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: {protocol}\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("closed during the handshake")
            head += chunk
        head, self._rest = head.split(b"\r\n\r\n", 1)
        self.status = head.split(b"\r\n", 1)[0].decode()

    def _read(self, count: int) -> bytes:
        while len(self._rest) < count:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("closed")
            self._rest += chunk
        data, self._rest = self._rest[:count], self._rest[count:]
        return data

    def receive(self) -> tuple[int, bytes]:
        """(opcode, payload) of the next frame: 1 text, 2 binary."""
        first, second = self._read(2)
        length = second & 0x7F
        if length == 126:
            length = struct.unpack(">H", self._read(2))[0]
        elif length == 127:
            length = struct.unpack(">Q", self._read(8))[0]
        return first & 0x0F, self._read(length)

    def send_json(self, value) -> None:
        payload, mask = json.dumps(value).encode(), os.urandom(4)
        header = bytes([0x81]) + (bytes([0x80 | len(payload)]) if len(payload) < 126
                                  else bytes([0x80 | 126]) + struct.pack(">H", len(payload)))
        self.sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def close(self) -> None:
        self.sock.close()
