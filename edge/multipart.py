"""Receiving a multipart message without pyzmq's per-frame overhead (the sending side is
edge.bus.send_frames)."""
from __future__ import annotations

import zmq

_recv = zmq.backend.Socket.recv  # the Cython recv, without pyzmq's Python wrapper


def recv_frames(socket: zmq.Socket, flags: int = 0) -> list:
    """`socket.recv_multipart(flags, copy=False)`: the frames of one message, uncopied.

    Each received Frame knows whether more follow (`Frame.more`), so this asks no RCVMORE
    getsockopt per frame (an enum conversion and a libzmq call each)."""
    frame = _recv(socket, flags, False)
    frames = [frame]
    while frame.more:
        frame = _recv(socket, flags, False)
        frames.append(frame)
    return frames
