"""ObsClient: OBS Studio's obs-websocket 5 (built into OBS 28+) through obs-websocket-py, made safe to
use from a streaming program.

- The TCP port is probed first (obs-websocket-py's `connect()` has no timeout of its own), then the
  handshake runs with a timeout: nothing listening, a wrong port or a wrong password is one line that
  says how to fix it, never a hang.
- Every request goes through `call(name, **data)`, which raises `ObsRequestError` naming the request and
  OBS's reason and code (obs-websocket-py drops both: `_Answers` keeps them).
- Events go to `events`, a queue: the library runs event callbacks on its receive thread, where calling
  OBS would deadlock, so whoever uses the client reads the queue in a thread of its own.
- When OBS goes away (closed, restarted) the client reconnects every `reconnect_s` seconds in a thread of
  its own and puts `DISCONNECTED`, then `CONNECTED`, on the queue. The loss is seen as the end of the
  library's receive thread, however it ended: a clean close (the library's `on_disconnect`) and a reset
  connection alike (the library lets `ConnectionResetError` end that thread without telling anyone).
- The password is never printed or logged: it is kept only inside the library's object as a `Secret`,
  whose repr and str are masked, and every error message is scrubbed of it.

obs-websocket-py must be told to speak protocol v5 (`legacy=False`): its default port, 4444, switches it
to the old v4 protocol.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import websocket
from obswebsocket import exceptions as obs_exceptions
from obswebsocket import obsws, requests
from obswebsocket.core import RecvThread

from capture.errors import CaptureError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4455
PASSWORD_ENV = "V2V_OBS_PASSWORD"
CONNECTED = "V2VConnected"  # the client's own events: (re)connected ...
DISCONNECTED = "V2VDisconnected"  # ... and lost the connection (reconnecting)
EVENTS_KEPT = 1000  # events waiting in the queue; the oldest go first when nobody reads them

# the library logs a lost connection as a warning, which Python would print on stderr over the status
# line; the client reports it itself (the DISCONNECTED event), so the library's log stays unshown unless
# the program configures logging
logging.getLogger("obswebsocket").addHandler(logging.NullHandler())


ExceptHook = Callable[[threading.ExceptHookArgs], Any]


def _quiet_lost_receiver(previous: ExceptHook) -> ExceptHook:
    """A `threading.excepthook` that stays silent when obs-websocket-py's receive thread ends on a socket
    error (OBS went away: the client's watcher reports it as DISCONNECTED and reconnects) and hands
    everything else to `previous`, so that a lost OBS prints one line, not a traceback."""

    def hook(args: threading.ExceptHookArgs) -> Any:
        if isinstance(args.thread, RecvThread) and args.exc_type is not None and issubclass(args.exc_type, OSError):
            return None
        return previous(args)

    return hook


threading.excepthook = _quiet_lost_receiver(threading.excepthook)


def how_to_enable(port: int) -> str:
    """Where OBS turns its WebSocket server on."""
    return (
        f"in OBS open Tools → WebSocket Server Settings, tick 'Enable WebSocket server' and set the server port {port}"
    )


class ObsError(CaptureError):
    """OBS could not do what v2v asked; the message is one line with the fix."""


class ObsConnectionError(ObsError):
    """No OBS to talk to: nothing listens, it is not obs-websocket 5, or the password is wrong."""


class ObsDisconnected(ObsError):
    """The connection to OBS is lost for now (the client is reconnecting)."""


class ObsRequestError(ObsError):
    """OBS refused a request: `request` (its name), `code` (obs-websocket's status code, None when OBS
    did not answer) and `comment` (OBS's reason)."""

    def __init__(self, message: str, request: str, code: int | None, comment: str) -> None:
        super().__init__(message)
        self.request, self.code, self.comment = request, code, comment


class Secret(str):
    """A password: a str for the code that needs it (the library concatenates and encodes it), masked in
    repr, str and format, so that no message, log line or traceback can show it by accident."""

    def __repr__(self) -> str:
        return "'***'"

    def __str__(self) -> str:
        return "***"

    def __format__(self, spec: str) -> str:
        return "***"

    def reveal(self) -> str:
        """The password itself."""
        return self[:]  # a slice of a str subclass is a plain str


def resolve_password(option: str | None) -> Secret:
    """`--obs-password` when given, else $V2V_OBS_PASSWORD, else empty (OBS without authentication)."""
    return Secret(option if option is not None else os.environ.get(PASSWORD_ENV, ""))


@dataclass(frozen=True)
class ObsEvent:
    """One event from OBS (`name` as obs-websocket calls it, `data` its eventData), or the client's own
    CONNECTED / DISCONNECTED."""

    name: str
    data: dict[str, Any] = field(default_factory=dict)


class _Answers(dict):
    """obs-websocket-py keeps each answer in a dict until `call` pops it, and then passes on only its
    responseData: this dict remembers the requestStatus (result, code, comment) of the answer popped last.
    ObsClient sends one request at a time, so that is the answer to its request."""

    def __init__(self) -> None:
        super().__init__()
        self.last_status: dict[str, Any] | None = None

    def pop(self, key: Any, *default: Any) -> Any:
        answer = super().pop(key, *default)
        if isinstance(answer, dict):
            self.last_status = answer.get("requestStatus")
        return answer


def probe(host: str, port: int, timeout: float) -> None:
    """Raise ObsConnectionError unless something accepts TCP connections at host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as e:
        reason = e.strerror or str(e) or type(e).__name__
        raise ObsConnectionError(
            f"no OBS at {host}:{port} ({reason}): start OBS and enable its WebSocket server "
            f"(Tools → WebSocket Server Settings → Enable WebSocket server, port {port}), or "
            "point --obs-host / --obs-port at it"
        ) from None


class ObsClient:
    """A connection to obs-websocket 5 at host:port (see the module docstring). Connects on construction
    and raises ObsConnectionError when it cannot; `close()` ends it (and the reconnecting)."""

    def __init__(
        self,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        password: str = "",
        timeout: float = 5.0,
        request_timeout: float = 5.0,
        reconnect_s: float = 1.0,
    ) -> None:
        self.host, self.port = host, port
        self.address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self.timeout, self.reconnect_s = timeout, reconnect_s
        self.events: queue.Queue[ObsEvent] = queue.Queue(EVENTS_KEPT)
        self._lock = threading.Lock()  # one request at a time: the library's request ids are not thread-safe
        self._closing = threading.Event()
        self._reconnector: threading.Thread | None = None
        self._reconnect_lock = threading.Lock()  # guards _reconnector (never the request lock: see _lost_when_ended)
        self._answers = _Answers()
        secret = password if isinstance(password, Secret) else Secret(password)
        self._has_password = bool(secret.reveal())
        self._ws = obsws(host, port, secret, legacy=False, timeout=request_timeout, on_connect=self._watch)
        self._ws.answers = self._answers
        self._ws.register(self._on_event)
        self._connect()
        version = self.call("GetVersion")
        self.obs_version = str(version.get("obsVersion", "?"))
        self.websocket_version = str(version.get("obsWebSocketVersion", "?"))

    # ---- connecting ------------------------------------------------------------------------------
    def _scrub(self, text: str) -> str:
        secret = self._ws.password.reveal() if isinstance(self._ws.password, Secret) else ""
        return text.replace(secret, "***") if secret else text

    def _connect(self) -> None:
        probe(self.host, self.port, self.timeout)
        failure: list[BaseException] = []
        done = threading.Event()

        def handshake() -> None:
            try:
                self._ws.connect()
            except BaseException as e:  # handed to the waiting thread below, which raises it
                failure.append(e)
            finally:
                done.set()

        threading.Thread(target=handshake, name="v2v-obs-connect", daemon=True).start()
        if not done.wait(self.timeout):
            if self._ws.ws is not None:
                self._ws.ws.abort()  # wakes the handshake, which then fails and ends
            raise ObsConnectionError(
                f"the server at {self.address} accepted a connection but did not answer as "
                f"obs-websocket 5 within {self.timeout:g} s: check --obs-port (OBS 28+ has "
                f"obs-websocket 5 built in; {how_to_enable(self.port)})"
            )
        if failure:
            raise self._connect_error(failure[0]) from None

    def _connect_error(self, error: BaseException) -> ObsConnectionError:
        reason = self._scrub(" ".join(str(error).split()) or type(error).__name__)
        if isinstance(error, obs_exceptions.ConnectionFailure) and "Identify" in str(error):
            if not self._has_password:
                return ObsConnectionError(
                    f"OBS at {self.address} asks for a password: set {PASSWORD_ENV} (or pass "
                    "--obs-password); OBS shows it in Tools → WebSocket Server Settings → "
                    "Show Connect Info"
                )
            return ObsConnectionError(
                f"OBS at {self.address} refused the password: check {PASSWORD_ENV} or "
                "--obs-password against Tools → WebSocket Server Settings → Show Connect Info"
            )
        if isinstance(error, (obs_exceptions.ConnectionFailure, websocket.WebSocketException)):
            return ObsConnectionError(
                f"the server at {self.address} is not obs-websocket 5 ({reason}): check "
                f"--obs-port (OBS 28+ has it built in; {how_to_enable(self.port)})"
            )
        return ObsConnectionError(f"cannot connect to OBS at {self.address} ({reason}): {how_to_enable(self.port)}")

    @property
    def connected(self) -> bool:
        """Whether requests can go to OBS now."""
        ws, receiver = self._ws.ws, self._ws.thread_recv
        return bool(ws is not None and ws.connected and receiver is not None and receiver.is_alive())

    def _watch(self, ws: obsws) -> None:
        # called by the library once a connection is up: a thread waits for its receive thread to end
        receiver = ws.thread_recv
        threading.Thread(target=self._lost_when_ended, args=(receiver,), name="v2v-obs-watch", daemon=True).start()

    def _lost_when_ended(self, receiver: threading.Thread) -> None:
        receiver.join()  # the connection closed, broke or was reset; no OBS calls before this returns
        if self._closing.is_set():
            return
        self.post(ObsEvent(DISCONNECTED, {"address": self.address}))
        self._start_reconnecting()

    def _start_reconnecting(self) -> None:
        with self._reconnect_lock:
            if self._reconnector is not None and self._reconnector.is_alive():
                return
            self._reconnector = threading.Thread(target=self._reconnect, name="v2v-obs-reconnect", daemon=True)
            self._reconnector.start()

    def _reconnect(self) -> None:
        while not self._closing.wait(self.reconnect_s):
            if self.connected:
                return
            try:
                self._connect()
            except ObsConnectionError:  # OBS is not back yet: try again after reconnect_s
                continue
            self.post(ObsEvent(CONNECTED, {"address": self.address}))
            return

    # ---- requests and events ---------------------------------------------------------------------
    def call(self, request: str, **data: Any) -> dict[str, Any]:
        """Send request `request` (obs-websocket's name, e.g. "GetVersion") with `data` as its fields and
        return OBS's responseData. Raises ObsRequestError when OBS refuses it, ObsDisconnected when OBS
        is gone (the client is then reconnecting)."""
        with self._lock:
            if not self.connected:
                raise ObsDisconnected(f"{request}: OBS at {self.address} is not connected (reconnecting)")
            self._answers.last_status = None
            lost: ObsDisconnected | None = None
            try:
                reply = self._ws.call(getattr(requests, request)(**data))
            except obs_exceptions.MessageTimeout:
                raise ObsRequestError(
                    f"OBS at {self.address} did not answer {request} within {self._ws.timeout:g} s",
                    request,
                    None,
                    "no answer",
                ) from None
            except (websocket.WebSocketException, OSError) as e:
                lost = ObsDisconnected(
                    self._scrub(
                        f"{request}: the connection to OBS at {self.address} broke "
                        f"({' '.join(str(e).split()) or type(e).__name__})"
                    )
                )
            status: dict[str, Any] = self._answers.last_status or {}
        if lost is not None:
            self._start_reconnecting()
            raise lost
        if not reply.status:
            code = status.get("code")
            comment = self._scrub(str(status.get("comment") or "OBS gave no reason"))
            raise ObsRequestError(f"OBS refused {request} ({comment}; code {code})", request, code, comment)
        return dict(reply.datain or {})

    def _on_event(self, event: Any) -> None:
        # the library's receive thread: only hand the event on
        self.post(ObsEvent(str(event.name), dict(event.datain or {})))

    def post(self, event: ObsEvent) -> None:
        """Put `event` on the queue (the client's own events, or a user's): never blocks."""
        while True:
            try:
                self.events.put_nowait(event)
                return
            except queue.Full:  # nobody reads: the oldest event goes
                try:
                    self.events.get_nowait()
                except queue.Empty:
                    continue

    def close(self) -> None:
        """Disconnect and stop reconnecting (again: nothing)."""
        self._closing.set()
        if self._ws.ws is None or not self._ws.ws.connected:
            return
        try:
            self._ws.disconnect()
        except (websocket.WebSocketException, OSError):  # the connection was already broken: it is closed now
            return

    def __repr__(self) -> str:
        return f"ObsClient({self.address}, {'connected' if self.connected else 'not connected'})"
