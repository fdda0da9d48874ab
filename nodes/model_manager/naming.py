"""Models by name and version, as Triton addresses them, beside their uid.

A name comes from the upload's metadata and is not unique: every upload of a
new ``det`` is another model of that name. Without a version, the newest one
answers: the highest version (numbers compared as numbers, so "10" > "9"),
then the latest stored.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from edge.errors import InvalidArgument, NotFound, clip
from messages.codec import short
from .repository import UID_RE, ModelRecord

_CHUNK_RE = re.compile(r"\d+|\D+")
MAX_KNOWN_LISTED = 20  # names an error message lists


def version_key(version: str) -> tuple:
    return tuple((1, int(c), "") if c.isdigit() else (0, 0, c) for c in _CHUNK_RE.findall(version))


def find_model(records: Iterable[ModelRecord], ref: object, version: object,
               stored_ns: Callable[[str], int]) -> str:
    """The uid that ``ref`` (a uid or a name) and ``version`` ("" or None: newest) mean."""
    if not isinstance(ref, str) or not ref:
        raise InvalidArgument(f"a model is named by a non-empty string, got {short(ref)}")
    if version is not None and not isinstance(version, str):
        raise InvalidArgument(f"version must be a string, got {type(version).__name__}",
                              {"key": "version"})
    usable = [r for r in records if r.problem is None]
    if UID_RE.match(ref) and not version:
        return ref  # unknown uids fail where they are used, with details.uid
    named = [r for r in usable if ref in (r.metadata.name, r.uid)]
    if version:
        named = [r for r in named if r.metadata.version == version]
    if not named:
        known = sorted({clip(r.metadata.name, 60) for r in usable if r.metadata.name})
        what = f"{quoted(ref)} version {quoted(version)}" if version else quoted(ref)
        listed = ", ".join(known[:MAX_KNOWN_LISTED])
        if len(known) > MAX_KNOWN_LISTED:
            listed += ", ..."
        raise NotFound(f"no model with uid or name {what} (known names: {listed or 'none'})",
                       {"name": ref, "version": version or ""})
    newest = max(named, key=lambda r: (version_key(r.metadata.version), stored_ns(r.uid), r.uid))
    return newest.uid


def quoted(text: str) -> str:
    """A uid, name or version for an error message: whole up to 100 characters."""
    return repr(clip(text, 100))
