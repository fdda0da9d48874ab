"""Node scripts (`type: ./my_node.py`) that a launcher sends to `edge agent`.

The agent keeps them in its own private runtime directory, one subdirectory per launcher
session, and nowhere else: a name is a plain `name.py` (no path, no leading dot), the
session a plain token, the size at most MAX_SCRIPT_BYTES. Anything else is refused with
InvalidArgument before a byte is written. A script is one file: modules beside it on the
launcher's machine are not sent (install them on the agent's machine as a package).
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

from edge.errors import InvalidArgument

MAX_SCRIPT_BYTES = 512 << 10
_SCRIPT_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,63}\.py$")
_SESSION = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def check_script_name(name: Any) -> str:
    if not isinstance(name, str) or not _SCRIPT_NAME.match(name):
        raise InvalidArgument(f"script name must be a plain NAME.py (letters, digits, '_', '-'; "
                              f"at most 64 before .py), got {str(name)[:80]!r}")
    return name


def check_script(script: Any) -> tuple[str, bytes]:
    """`{name, source}` from agent.start -> (name, source), or InvalidArgument."""
    if not isinstance(script, dict):
        raise InvalidArgument("agent.start: 'script' must be {name, source}")
    name, source = check_script_name(script.get("name")), script.get("source")
    if not isinstance(source, bytes):
        raise InvalidArgument("agent.start: script source must be bytes")
    if len(source) > MAX_SCRIPT_BYTES:
        raise InvalidArgument(f"agent.start: script {name} is {len(source)} bytes, more than "
                              f"the {MAX_SCRIPT_BYTES} an agent accepts")
    return name, source


def store_script(base: Path, session: str, script: Any) -> Path:
    """Write a checked script to BASE/SESSION/NAME (0600, dirs 0700); its path."""
    name, source = check_script(script)
    if not _SESSION.match(session):
        raise InvalidArgument("agent.start: a session sending a script must be a plain token "
                              "(letters, digits, '_', '-')")
    folder = base / session
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    target = folder / name
    temporary = folder / f".{name}.{os.getpid()}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(source)
        os.replace(temporary, target)   # a running node keeps its open copy
    except OSError:
        temporary.unlink(missing_ok=True)
        raise
    return target


def remove_scripts(base: Path, session: str | None = None) -> None:
    """Forget one session's scripts, or (no session) every script of this agent."""
    if session is not None and not _SESSION.match(session):
        return
    shutil.rmtree(base / session if session else base, ignore_errors=True)
