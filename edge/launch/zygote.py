"""The fork server's own process: import numpy, zmq, msgpack and the bus core once, then
fork a node per request, so no node pays ~0.3 s of CPU importing them again.

    python -u -m edge.launch.zygote FD        (started by edge.launch.forkserver)

FD is one end of a SOCK_SEQPACKET socketpair whose other end only the supervisor holds:
there is no path in the filesystem to reach it. Each request is one JSON packet
{"argv", "env", "cwd"} carrying two fds: the write end of the node's output pipe and
the read end of its go pipe; each reply is {"pid"} or {"error"}. A forked node waits on
its go pipe and runs only once the supervisor writes a byte there; at EOF (the supervisor
gave up on the reply, or died) it exits unseen, so a slow reply never leaves a second,
unknown copy of a node running beside the one the supervisor then spawns. No zmq context, socket or thread of ours exists here
before a fork (forking a live zmq context is unsafe).

A node is forked twice: the first child forks the node and exits at once, so the node
is re-parented to the supervisor (a child subreaper). The supervisor then waits for it,
reads its exit status and holds its pidfd exactly as for a node it spawned itself. The
node leads its own process group, gets SIGTERM when the supervisor dies, has stdin on
/dev/null and stdout + stderr on its pipe, the request's environment and cwd, default
signal handlers, and then runs `python -m edge.run` in-process.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import sys
import time

from edge.launch.forkserver import die_with_parent

PRELOAD = ("numpy", "zmq", "msgpack", "messages", "edge.node", "edge.run")  # what every node needs
MAX_REQUEST_BYTES = 1 << 20
REPARENT_WAIT_S = 2.0   # how long a fresh node waits to be re-parented to the supervisor


def main() -> int:
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)  # the supervisor ends us by closing the socket
    channel = socket.socket(fileno=int(sys.argv[1]))
    supervisor_pid = os.getppid()
    if not _from_supervisor(channel, supervisor_pid):
        return 2
    for name in PRELOAD:
        __import__(name)
    try:
        channel.send(b'{"ready": true}')
    except OSError:
        return 0  # the supervisor is gone already
    request = serve(channel, supervisor_pid)
    if request is None:
        return 0
    _become_node(request)  # only in a forked node: runs the node, then exits
    return 0


def _from_supervisor(channel: socket.socket, supervisor_pid: int) -> bool:
    """The socketpair's other end belongs to the process that started us, and nobody else."""
    import struct
    creds = channel.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, _gid = struct.unpack("3i", creds)
    return pid == supervisor_pid and uid == os.getuid()


def serve(channel: socket.socket, supervisor_pid: int):
    """Answer requests until the supervisor closes its end (None), or, in a forked node,
    return that node's request with the process already set up."""
    while True:
        try:
            data, fds, _flags, _addr = socket.recv_fds(channel, MAX_REQUEST_BYTES, 2)
        except OSError:
            return None
        if not data:
            return None
        try:
            request = _parse(data, fds)
        except ValueError as exc:
            for fd in fds:
                os.close(fd)
            try:
                channel.send(json.dumps({"error": str(exc)}).encode())
            except OSError:
                return None
            continue
        request["supervisor_pid"] = supervisor_pid
        pid, error = _fork_node(channel, request)
        if pid == 0:
            return request
        os.close(request["output_fd"])
        os.close(request["go_fd"])
        try:
            channel.send(json.dumps({"pid": pid} if error is None else {"error": error}).encode())
        except OSError:
            return None  # the supervisor is gone


def _parse(data: bytes, fds: list) -> dict:
    if len(fds) != 2:
        raise ValueError(f"a request carries exactly two fds, not {len(fds)}")
    request = json.loads(data)
    if not (isinstance(request, dict) and isinstance(request.get("argv"), list)
            and len(request["argv"]) == 4 and request["argv"][1:3] == ["-u", "-m"]
            and isinstance(request.get("env"), dict)
            and all(isinstance(k, str) and isinstance(v, str)
                    for k, v in request["env"].items())):
        raise ValueError("a request is {argv: [python, -u, -m, module], env: {str: str}, cwd}")
    request["output_fd"], request["go_fd"] = fds
    return request


def _fork_node(channel: socket.socket, request: dict):
    """(node pid, None) in the zygote, (0, None) in the node, (None, error) on failure."""
    read_fd, write_fd = os.pipe()
    try:
        first = os.fork()
    except OSError as exc:
        os.close(read_fd), os.close(write_fd)
        return None, f"fork failed: {exc}"
    if first == 0:  # the short-lived middle process: it never returns to the loop
        try:
            if _fork_again(channel, read_fd, write_fd) == 0:
                return 0, None  # in the node
        except BaseException:
            pass
        os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        text = pipe.read()
    os.waitpid(first, 0)  # once it is gone, the node's parent is the supervisor
    return (int(text), None) if text.isdigit() else (None, "the forked node did not start")


def _fork_again(channel: socket.socket, read_fd: int, write_fd: int) -> int:
    """In the middle process: fork the node, hand its pid to the zygote; 0 in the node."""
    os.close(read_fd)
    node = os.fork()
    if node == 0:
        os.close(write_fd)
        channel.close()
        return 0
    try:
        os.setpgid(node, node)  # before anyone can signal the group (see _become_node)
    except OSError:
        pass
    os.write(write_fd, str(node).encode())
    return node


def _become_node(request: dict) -> None:
    try:
        os.setpgid(0, 0)
    except OSError:
        pass
    _wait_for_reparent(request["supervisor_pid"])
    _wait_for_go(request["go_fd"])
    _set_output(request["output_fd"])
    os.environ.clear()
    os.environ.update(request["env"])
    if request.get("cwd"):
        os.chdir(request["cwd"])
        sys.path[0] = os.getcwd()  # where `python -m` puts the working directory
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)
    _reseed()
    import runpy
    module = request["argv"][-1]
    sys.modules.pop(module, None)  # preloaded for its imports; it runs afresh as __main__
    sys.argv = [request["argv"][0]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


def _wait_for_reparent(supervisor_pid: int) -> None:
    """PR_SET_PDEATHSIG fires when the *current* parent dies, so set it once the parent is
    the supervisor; if the supervisor is already gone, go too."""
    deadline = time.monotonic() + REPARENT_WAIT_S
    while os.getppid() != supervisor_pid and time.monotonic() < deadline:
        time.sleep(0.0005)
    die_with_parent()
    if os.getppid() != supervisor_pid:
        os._exit(1)


def _wait_for_go(go_fd: int) -> None:
    """Run only if the supervisor took the reply (it writes a byte); at EOF, leave unseen."""
    try:
        go = os.read(go_fd, 1)
    except OSError:
        go = b""
    if not go:
        os._exit(0)
    os.close(go_fd)


def _set_output(output_fd: int) -> None:
    """stdin from /dev/null, stdout and stderr into the node's pipe, nothing else open."""
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(output_fd, 1)
    os.dup2(output_fd, 2)
    os.closerange(3, os.sysconf("SC_OPEN_MAX") if hasattr(os, "sysconf") else 65536)


def _reseed() -> None:
    """`random` reseeds itself after a fork; numpy's global generator, if loaded, does not."""
    numpy_random = sys.modules.get("numpy.random")
    if numpy_random is not None:
        numpy_random.seed()


if __name__ == "__main__":
    sys.exit(main())
