"""The ZAP handler behind every CURVE server socket: pyzmq's `zmq.auth` thread, our rules.

Imported only where a network socket binds (it pulls in asyncio); edge.security starts
one per context and keeps the roles it records.
"""
from __future__ import annotations

import logging
import time
from typing import Callable, Optional

import zmq
from zmq.auth.thread import ThreadAuthenticator
from zmq.utils import z85

from edge.security import keys

log = logging.getLogger("edge.security")
REFUSAL_LOG_EVERY_S = 60.0       # one log line per refused key per minute: no log flooding
MAX_REFUSAL_LINES = 20           # and at most this many refusal lines a minute in all


class KeyAuthenticator(ThreadAuthenticator):
    """pyzmq's ZAP thread with our trust rules; the user id is the trusted key's name."""

    def __init__(self, context: zmq.Context, *, peers: dict, trusted: Callable, roles: dict):
        """`peers`: the graph's keys; `trusted(directory)`: the authorized keys now;
        `roles`: where each admitted user id's role is recorded (edge.security reads it)."""
        super().__init__(context, log=logging.getLogger("edge.security.zap"))
        self.configure_curve_callback("*", self)
        self.directory = keys.keys_dir()   # fixed now: the process's keys, whatever env says later
        self.owner = keys.load_identity(self.directory).public
        self.peers, self._trusted, self._roles = peers, trusted, roles
        self._address = "?"
        self._refusals: dict[bytes, float] = {}   # key -> when it was last logged
        self._window_start, self._logged, self._suppressed = time.monotonic(), 0, 0

    def who(self, public: bytes) -> Optional[keys.TrustedKey]:
        """The trusted entry for a Z85 public key, or None."""
        if public == self.owner:
            return keys.TrustedKey(keys.OWNER, public, "admin")
        return self.peers.get(public) or self._trusted(self.directory).get(public)

    async def handle_zap_message(self, msg: list) -> None:
        self._address = msg[3].decode("utf-8", "replace") if len(msg) > 3 else "?"
        await super().handle_zap_message(msg)

    def callback(self, domain: str, key: bytes) -> bool:
        """The credentials-provider hook of zmq.auth: is this Z85 key trusted?"""
        try:
            if self.who(key) is not None:
                return True
        except Exception as exc:  # broken key files: refuse, say why, keep serving
            log.error("refusing %s: cannot read the trusted keys: %s", key.decode(), exc)
            return False
        self._log_refusal(key)
        return False

    def _log_refusal(self, key: bytes) -> None:
        """Once per key per minute, at most MAX_REFUSAL_LINES a minute: keys cost nothing to
        make, so neither the log nor this memory may grow with them."""
        now = time.monotonic()
        if now - self._window_start >= REFUSAL_LOG_EVERY_S:
            if self._suppressed:
                log.warning("refused %d more CURVE connection(s) in the last minute (not logged "
                            "one by one)", self._suppressed)
            self._window_start, self._logged, self._suppressed = now, 0, 0
            self._refusals = {k: t for k, t in self._refusals.items()
                              if now - t < REFUSAL_LOG_EVERY_S}
        if now - self._refusals.get(key, -REFUSAL_LOG_EVERY_S) < REFUSAL_LOG_EVERY_S:
            return
        if self._logged >= MAX_REFUSAL_LINES or len(self._refusals) >= MAX_REFUSAL_LINES:
            self._suppressed += 1
            return
        self._refusals[key], self._logged = now, self._logged + 1
        log.warning("refused CURVE key %s from %s: not trusted (to allow it: "
                    "edge keys trust NAME %s --role read|admin)",
                    key.decode(), self._address, key.decode())

    def curve_user_id(self, client_public_key: bytes) -> str:
        entry = self.who(z85.encode(client_public_key))
        name, role = (entry.name, entry.role) if entry else ("unknown", "read")
        self._roles[name] = role
        return name
