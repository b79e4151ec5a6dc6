"""Steering a run while it runs: commands on stdin and a small HTTP endpoint, both changing one
thread-safe `Steering` that the engine stage reads between chunks (capture/pipeline.py).

stdin (when it is a terminal or a pipe), one command a line:
    prompt TEXT · strength S · pause · resume · quit · help
HTTP (`--control-port N`, 127.0.0.1 unless `--control-host HOST` names another address):
    GET /status   -> {"fps", "latency_p50_ms", "latency_p95_ms", "dropped", "frames", "prompt",
                      "strength", "paused", "source", "sinks"}
    POST /control {"prompt": TEXT, "strength": S, "paused": BOOL} (any of them) -> the new status
A bad command or request is answered with its reason (one line; HTTP 400) and the stream goes on.
Beyond loopback every request must carry `Authorization: Bearer TOKEN` (the token is required to
start); a request without it, or with another, gets 401.
"""

from __future__ import annotations

import hmac
import json
import math
import os
import select
import socket
import stat
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import IO, Any

from capture.errors import CaptureError
from capture.net import is_loopback

COMMANDS = "prompt TEXT, strength S, pause, resume, quit, help"
FIELDS = ("prompt", "strength", "paused")
MAX_BODY = 64 * 1024  # bytes: a control request is a few words


class ControlError(ValueError):
    """A bad command or request value; the message is the one-line reason."""


def check_strength(value: object) -> float:
    """A strength in (0, 1]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ControlError(f"strength must be a number in (0, 1], got {json.dumps(value)}")
    s = float(value)
    if not (math.isfinite(s) and 0.0 < s <= 1.0):
        raise ControlError(f"strength must be in (0, 1] (0 would keep the input, 1 ignores it), got {value:g}")
    return s


@dataclass(frozen=True)
class Changes:
    """What changed since the engine stage last looked (None: unchanged)."""

    prompt: str | None = None
    strength: float | None = None

    def __bool__(self) -> bool:
        return self.prompt is not None or self.strength is not None


class Steering:
    """The prompt, the strength and pause/quit of a run, shared by the controls and the engine stage."""

    def __init__(self, prompt: str = "", strength: float = 0.7) -> None:
        self._lock = threading.Lock()
        self._prompt, self._strength, self._paused = prompt, check_strength(strength), False
        self._changes = Changes()
        self.quit = threading.Event()  # set by `quit`: the run ends as if the source had ended

    def update(self, prompt: str | None = None, strength: float | None = None, paused: bool | None = None) -> dict:
        """Check every value, then change them together; returns the new `snapshot()`."""
        if prompt is not None and not isinstance(prompt, str):
            raise ControlError(f"prompt must be text, got {json.dumps(prompt)}")
        s = None if strength is None else check_strength(strength)
        if paused is not None and not isinstance(paused, bool):
            raise ControlError(f"paused must be true or false, got {json.dumps(paused)}")
        with self._lock:
            if prompt is not None:
                self._prompt = prompt
                self._changes = Changes(prompt, self._changes.strength)
            if s is not None:
                self._strength = s
                self._changes = Changes(self._changes.prompt, s)
            if paused is not None:
                self._paused = paused
        return self.snapshot()

    def take_changes(self) -> Changes:
        """The prompt and strength set since the last call (for the engine stage, between chunks)."""
        with self._lock:
            changes, self._changes = self._changes, Changes()
            return changes

    @property
    def paused(self) -> bool:
        """Whether the engine stage should take no frames now."""
        with self._lock:
            return self._paused

    def snapshot(self) -> dict:
        """{"prompt", "strength", "paused"} as they are now."""
        with self._lock:
            return {"prompt": self._prompt, "strength": self._strength, "paused": self._paused}


# ---- stdin ---------------------------------------------------------------------------------------
def run_command(line: str, steering: Steering) -> str | None:
    """Carry out one stdin command; returns what to tell the user (None for an empty line)."""
    word, _, rest = line.strip().partition(" ")
    rest = rest.strip()
    if not word:
        return None
    if word == "prompt":
        if not rest:
            raise ControlError("write prompt TEXT, e.g. prompt realistic sunny hills")
        steering.update(prompt=rest)
        return f"prompt {rest!r} (blended in from the next chunk)"
    if word == "strength":
        try:
            value = float(rest)
        except ValueError:
            raise ControlError(
                f"write strength S with S a number in (0, 1], e.g. strength 0.5 (got {rest!r})"
            ) from None
        return f"strength {steering.update(strength=value)['strength']:g} from the next chunk"
    if word in ("pause", "resume") and not rest:
        steering.update(paused=word == "pause")
        return "paused: the sinks keep the last frame (resume to go on)" if word == "pause" else "resumed"
    if word == "quit" and not rest:
        steering.quit.set()
        return "quitting: finishing the outputs"
    if word == "help" and not rest:
        return f"commands: {COMMANDS}"
    raise ControlError(f"unknown command {line.strip()!r}: use {COMMANDS}")


def stdin_takes_commands(stream: IO[str] | None) -> bool:
    """Whether `stream` is a terminal or a pipe (not /dev/null, a file or a closed stream)."""
    if stream is None or stream.closed:
        return False
    try:
        fd = stream.fileno()
        mode = os.fstat(fd).st_mode
    except (OSError, ValueError):  # no file descriptor (pytest's stdin, an io.StringIO): no commands
        return False
    return os.isatty(fd) or stat.S_ISFIFO(mode)


class StdinCommands:
    """Reads commands from file descriptor `fd` in a daemon thread until `stop()` or the end of the input
    (which only ends the reading, not the run). `say` shows each answer (one line)."""

    def __init__(self, steering: Steering, say: Callable[[str], None], fd: int = 0) -> None:
        self.steering, self.say, self.fd = steering, say, fd
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name="v2v-stdin", daemon=True)

    def start(self) -> StdinCommands:
        """Start reading; returns self."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop reading: on POSIX the thread has left the descriptor when this returns."""
        self._stop.set()
        if os.name == "posix" and self._thread.is_alive():
            self._thread.join(timeout=2.0)

    def _lines(self) -> Iterator[str]:
        # os.read on the raw descriptor, not sys.stdin: a daemon thread blocked inside the buffered
        # reader holds its lock, and the interpreter then aborts at exit
        buffer = b""
        while not self._stop.is_set():
            if os.name == "posix" and not select.select([self.fd], [], [], 0.2)[0]:
                continue
            data = os.read(self.fd, 4096)
            if not data:
                break
            buffer += data
            *lines, buffer = buffer.split(b"\n")
            yield from (line.decode("utf-8", "replace") for line in lines)
        if buffer and not self._stop.is_set():
            yield buffer.decode("utf-8", "replace")

    def _read(self) -> None:
        try:
            for line in self._lines():
                try:
                    answer = run_command(line, self.steering)
                except ControlError as e:
                    answer = str(e)
                if answer:
                    self.say(f"control: {answer}")
        except OSError as e:  # the terminal went away: say so once, the stream goes on
            if not self._stop.is_set():
                self.say(f"control: stopped reading commands from stdin ({e.strerror or e})")


# ---- HTTP ----------------------------------------------------------------------------------------
class _Server(ThreadingHTTPServer):
    daemon_threads = True
    control: ControlServer


class _Server6(_Server):
    address_family = socket.AF_INET6


class ControlServer:
    """The HTTP endpoint on `host`:`port` (port 0: a free one, see `port`). It listens from construction,
    so a taken port is reported before the model loads, and answers once `start` gives it the status."""

    def __init__(self, steering: Steering, port: int, host: str = "127.0.0.1", token: str | None = None) -> None:
        if not is_loopback(host) and not token:
            raise CaptureError(
                f"--control-host {host} opens the control endpoint beyond this machine: set "
                "V2V_CONTROL_TOKEN to a secret (clients send 'Authorization: Bearer TOKEN'), "
                "or leave --control-host out to listen on 127.0.0.1 only"
            )
        self.steering, self.host, self.token = steering, host, token
        self.status: Callable[[], dict] = steering.snapshot
        server_class = _Server6 if ":" in host else _Server
        try:
            self._server = server_class((host, port), _Handler)
        except OSError as e:
            raise CaptureError(
                f"--control-port {port}: cannot listen on {host}:{port} ({e.strerror or e}): "
                "choose another port (0 picks a free one)"
            ) from e
        self._server.control = self
        self.port = self._server.server_address[1]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """http://HOST:PORT"""
        return f"http://{f'[{self.host}]' if ':' in self.host else self.host}:{self.port}"

    def start(self, status: Callable[[], dict]) -> ControlServer:
        """Answer requests in a daemon thread; `status()` gives the body of GET /status."""
        self.status = status
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.2}, name="v2v-control", daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop answering and free the port (again: nothing)."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def authorised(self, header: str | None) -> bool:
        """Whether a request's Authorization header carries the token (always, without a token)."""
        if not self.token:
            return True
        scheme, _, given = (header or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), self.token.encode())

    def control(self, body: bytes) -> dict:
        """POST /control: the changes in `body` (a JSON object), then the new status."""
        try:
            fields = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ControlError(f'the body is not JSON ({e}): send e.g. {{"prompt": "sunny hills"}}') from None
        if not isinstance(fields, dict):
            raise ControlError(f"the body must be a JSON object with {', '.join(FIELDS)}, got {json.dumps(fields)}")
        unknown = sorted(set(fields) - set(FIELDS))
        if unknown:
            raise ControlError(f"unknown field {unknown[0]!r}: send {', '.join(FIELDS)}")
        self.steering.update(**fields)
        return self.status()


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "v2v-control"

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        if self._refused():
            return
        if self.path.split("?", 1)[0] != "/status":
            self._send(404, {"error": f"no {self.path}: GET /status or POST /control"})
            return
        self._send(200, self.server.control.status())

    def do_POST(self) -> None:  # noqa: N802
        if self._refused():
            return
        if self.path.split("?", 1)[0] != "/control":
            self._send(404, {"error": f"no {self.path}: GET /status or POST /control"})
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 < length <= MAX_BODY:
            self._send(400, {"error": f"send a JSON body of 1 to {MAX_BODY} bytes with Content-Length"})
            return
        try:
            self._send(200, self.server.control.control(self.rfile.read(length)))
        except ControlError as e:
            self._send(400, {"error": str(e)})

    def _refused(self) -> bool:
        if self.server.control.authorised(self.headers.get("Authorization")):
            return False
        self._send(
            401,
            {"error": "send the token of V2V_CONTROL_TOKEN as 'Authorization: Bearer TOKEN'"},
            {"WWW-Authenticate": 'Bearer realm="v2v"'},
        )
        return True

    def _send(self, code: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        """No access log: the status line owns stderr."""
