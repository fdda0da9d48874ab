"""What a decoder accepts from a peer it does not trust, and the one error it raises."""
from __future__ import annotations

import reprlib
from dataclasses import dataclass, field
from typing import Any

_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxstring, _SHORT.maxother = 3, 60, 60


class DecodeError(ValueError):
    """A peer sent something this side will not decode; the message says what."""


def short(value: Any) -> str:
    """A bounded repr of a peer's value for error messages (no deep recursion, no huge text)."""
    return _SHORT.repr(value)


@dataclass(frozen=True)
class Limits:
    """What a decoder accepts from a peer it does not trust.

    `max_items` counts containers plus their elements over the whole header, so a header
    of a million empty lists is refused while it is being decoded; `max_total_bytes` also
    becomes the socket's ZMQ_MAXMSGSIZE (libzmq applies it to each frame).
    """

    max_header_bytes: int = 8 << 20
    max_total_bytes: int = 256 << 20
    max_buffers: int = 256
    max_ndim: int = 32
    max_items: int = 1 << 17
    max_depth: int = 32
    unpack_options: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Precomputed once: msgpack's own per-container and per-string bounds.
        object.__setattr__(self, "unpack_options", dict(
            max_str_len=self.max_header_bytes, max_bin_len=self.max_header_bytes,
            max_array_len=self.max_items, max_map_len=self.max_items,
            max_ext_len=self.max_header_bytes))  # ext 1 is held to MAX_EXT_BYTES by its hook

    @property
    def max_frame_bytes(self) -> int:
        """For ZMQ_MAXMSGSIZE: no single frame can be larger than the whole message."""
        return max(self.max_header_bytes, self.max_total_bytes)

    def replace(self, **changes) -> "Limits":
        names = ("max_header_bytes", "max_total_bytes", "max_buffers", "max_ndim", "max_items",
                 "max_depth")
        return Limits(**{**{name: getattr(self, name) for name in names}, **changes})


# Per kind of socket. Requests and replies carry model uploads (4 MiB chunks in the header)
# and forward() tensors; a stream message is a frame (a 4K RGB image is 25 MB); the control
# endpoint of `edge launch` takes small commands only.
REQUEST_LIMITS = Limits()
REPLY_LIMITS = REQUEST_LIMITS
STREAM_LIMITS = Limits(max_header_bytes=1 << 20, max_total_bytes=64 << 20)
CONTROL_LIMITS = Limits(max_header_bytes=256 << 10, max_total_bytes=256 << 10, max_buffers=4,
                        max_items=1 << 14)
DEFAULT_LIMITS = REQUEST_LIMITS
