"""Pre-fork serving: one listening socket, K worker processes, one supervisor.

``scim-server serve --workers K`` binds the address in the parent, then forks K workers that each
listen on it with ``SO_REUSEPORT`` (the kernel hands each new connection to one of them) and each run
their own event loop and application against the same MongoDB. The parent only supervises:

* it waits until every worker reports that its application started (store reachable, tokens loaded);
  if a worker exits first, it stops the others and exits with that worker's code, so a bad
  configuration or an unreachable database fails the command as it does with one process;
* SIGTERM or SIGINT is forwarded (as SIGTERM) to every worker, which finishes its requests in flight
  and exits; workers run in their own process group, so a terminal's Ctrl-C reaches them only
  through the parent, once;
* SIGHUP is forwarded as is: each worker reloads the organizations file;
* a worker that dies while serving stops the whole server with exit code 1 rather than being
  replaced: the process manager (systemd, Kubernetes, Docker) restarts it, and nothing keeps running
  half-sized unnoticed.

Workers share nothing but the socket and the database. What each keeps in memory is a cache with a
bound (see docs/operations.md, "Workers"), so any worker may answer any request.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import sys
import time
import traceback
from collections.abc import Callable
from types import FrameType

# The worker's body: runs the server on its listening socket, calls ``ready()`` once the application
# has started, and returns the process exit code.
Worker = Callable[[socket.socket, Callable[[], None]], int]

STARTUP_SECONDS = 60.0
POLL_SECONDS = 0.1


def bind(host: str, port: int) -> socket.socket:
    """Reserve ``host:port`` for the workers: a bound, not listening, ``SO_REUSEPORT`` socket.

    Binding in the parent fails early and once when the port is taken, and fixes the port when 0 is
    asked for. Each worker then listens on its own ``SO_REUSEPORT`` socket at the same address, and
    the kernel spreads new connections over the workers. (With one shared listening socket, an
    asyncio worker accepts every pending connection when it wakes, so bursts land on one worker.)
    """
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except BaseException:
        sock.close()
        raise
    return sock


def listen(reserved: socket.socket, backlog: int = 1024) -> socket.socket:
    """A worker's own listening socket at the reserved address."""
    sock = socket.socket(reserved.family, reserved.type, reserved.proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(reserved.getsockname())
        sock.listen(backlog)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def _say(message: str) -> None:
    print(f"scim-server: {message}", file=sys.stderr, flush=True)


def _exit_code(status: int) -> int:
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def _spawn(worker: Worker, sock: socket.socket, ready_fd: int, others: list[int]) -> int:
    pid = os.fork()
    if pid:
        return pid
    # The worker: default signal handling (the server installs its own), its own process group.
    code = 1
    try:
        for fd in others:
            os.close(fd)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        # Ignored until the server installs its reload handler: a SIGHUP must not end a worker.
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        os.setpgid(0, 0)

        def ready() -> None:
            os.write(ready_fd, b".")

        with listen(sock) as own:
            sock.close()
            code = worker(own, ready)
    except SystemExit as exit:
        # A worker told to stop while it is still starting or already stopping (the server's own
        # signal handling raises aiohttp's GracefulExit, a SystemExit) just ends: no traceback.
        code = exit.code if isinstance(exit.code, int) else 1
    except BaseException:
        # Whatever escapes a worker ends it with code 1: a forked child must never return.
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def supervise(
    worker: Worker,
    sock: socket.socket,
    workers: int,
    *,
    startup_seconds: float = STARTUP_SECONDS,
    stop_seconds: float = 60.0,
) -> int:
    """Fork ``workers`` processes running ``worker`` on ``sock`` and supervise them; the exit code.

    0 after a signal when every worker exited cleanly; a failing worker's code when one exits before
    all are ready; 1 when one dies while serving or when startup takes longer than ``startup_seconds``.
    ``stop_seconds`` bounds the wait for workers after a signal; the rest are killed.
    """
    read_fd, write_fd = os.pipe()
    children: dict[int, int] = {}  # pid -> worker number
    stopping = False

    def forward(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    def hang_up(signum: int, frame: FrameType | None) -> None:
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGHUP)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, hang_up)
    try:
        for number in range(workers):
            children[_spawn(worker, sock, write_fd, [read_fd])] = number
        os.close(write_fd)
        write_fd = -1
        return _watch(children, read_fd, workers, startup_seconds, stop_seconds, lambda: stopping, forward)
    finally:
        for pid in list(children):  # only on an unexpected error in the supervisor itself
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        os.close(read_fd)
        if write_fd >= 0:
            os.close(write_fd)


def _reap(children: dict[int, int]) -> list[tuple[int, int]]:
    """Workers that have exited: (worker number, exit code)."""
    ended: list[tuple[int, int]] = []
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            break
        if pid in children:
            ended.append((children.pop(pid), _exit_code(status)))
    return ended


def _watch(
    children: dict[int, int],
    read_fd: int,
    workers: int,
    startup_seconds: float,
    stop_seconds: float,
    stopping: Callable[[], bool],
    stop: Callable[[int, FrameType | None], None],
) -> int:
    ready = 0
    deadline = time.monotonic() + startup_seconds
    failure: int | None = None
    stopped_at: float | None = None
    while children:
        if stopping() and stopped_at is None:
            stopped_at = time.monotonic()
        readable, _, _ = select.select([read_fd], [], [], POLL_SECONDS)
        if readable:
            ready += len(os.read(read_fd, 1024))
            if ready == workers:
                _say(f"{workers} workers serving (pids {', '.join(str(p) for p in sorted(children))})")
        for number, code in _reap(children):
            if stopping():
                if code:
                    failure = failure or code
                continue
            if ready < workers:
                _say(f"worker {number} failed to start (exit code {code}); stopping the others")
                failure = code or 1
            else:
                _say(f"worker {number} exited unexpectedly (exit code {code}); stopping the server")
                failure = 1
            stop(signal.SIGTERM, None)
            stopped_at = time.monotonic()
        if ready < workers and not stopping() and time.monotonic() > deadline:
            _say(f"only {ready} of {workers} workers started within {startup_seconds:g} s; stopping")
            failure = 1
            stop(signal.SIGTERM, None)
            stopped_at = time.monotonic()
        if stopped_at is not None and children and time.monotonic() - stopped_at > stop_seconds:
            _say(f"{len(children)} workers still running {stop_seconds:g} s after the signal; killing them")
            for pid in list(children):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            failure = failure or 1
            stopped_at = time.monotonic() + 3600  # kill once
    return failure or 0


__all__ = ["Worker", "bind", "listen", "supervise"]
