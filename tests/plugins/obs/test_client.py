"""plugins/obs/client.py without OBS: the errors when nothing (or something else) listens, the
password's masking, and a reset connection (a minimal obs-websocket server here). (Against a real OBS:
test_obs.py.)"""

import base64
import hashlib
import json
import re
import socket
import struct
import threading
import time

import pytest
from obswebsocket.core import RecvThread

from plugins.obs.client import (
    CONNECTED,
    DISCONNECTED,
    PASSWORD_ENV,
    ObsClient,
    ObsConnectionError,
    Secret,
    _Answers,
    _quiet_lost_receiver,
    resolve_password,
)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_nothing_listening_is_one_line_with_how_to_enable_obs_websocket():
    port = _closed_port()
    with pytest.raises(ObsConnectionError) as info:
        ObsClient("127.0.0.1", port, "secret-1234", timeout=1)
    message = str(info.value)
    assert message.startswith(f"no OBS at 127.0.0.1:{port} (") and "\n" not in message
    assert "Tools → WebSocket Server Settings" in message and f"port {port}" in message
    assert "secret-1234" not in message


def test_a_server_that_does_not_answer_times_out():
    """A port that accepts connections and says nothing (not obs-websocket): an error after the timeout,
    not a hang."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(4)
        port = server.getsockname()[1]
        accepted = []
        threading.Thread(target=lambda: accepted.extend(server.accept() for _ in range(2)), daemon=True).start()
        with pytest.raises(
            ObsConnectionError, match=r"did not answer as obs-websocket 5 within 0.5 s: check --obs-port"
        ):
            ObsClient("127.0.0.1", port, "pw", timeout=0.5)
        for connection, _ in accepted:
            connection.close()


def test_a_secret_is_masked_everywhere_but_where_it_is_used():
    secret = Secret("hunter2")
    assert repr(secret) == "'***'" and str(secret) == "***" and f"{secret}" == "***" and "%s" % secret == "***"  # noqa: UP031 (%-formatting is one of the forms checked)
    assert repr({"password": secret}) == "{'password': '***'}"
    assert secret.reveal() == "hunter2" and type(secret.reveal()) is str
    assert secret + "salt" == "hunter2salt"  # how obs-websocket-py builds the authentication string
    assert (secret + "salt").encode() == b"hunter2salt"


def test_the_password_comes_from_the_option_or_the_environment(monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, "from-env")
    assert resolve_password(None).reveal() == "from-env" and resolve_password("given").reveal() == "given"
    monkeypatch.delenv(PASSWORD_ENV)
    assert resolve_password(None).reveal() == ""


def test_answers_keep_obs_s_reason():
    answers = _Answers()
    answers["7"] = {"requestStatus": {"result": False, "code": 600, "comment": "No source"}, "requestId": "7"}
    assert "7" in answers and answers.pop("7")["requestId"] == "7"
    assert answers.last_status == {"result": False, "code": 600, "comment": "No source"}


# ---- a connection OBS resets: obs-websocket-py's receive thread dies on ConnectionResetError ---------
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455's constant for Sec-WebSocket-Accept


def _send_text(connection: socket.socket, message: dict) -> None:
    data = json.dumps(message).encode()
    header = bytes([0x81, len(data)]) if len(data) < 126 else bytes([0x81, 126]) + struct.pack("!H", len(data))
    connection.sendall(header + data)  # a server's frames are not masked


def _receive_frame(connection: socket.socket) -> tuple[int, bytes]:
    """One frame from the client: its opcode and unmasked payload."""

    def exactly(n: int) -> bytes:
        data = b""
        while len(data) < n:
            part = connection.recv(n - len(data))
            if not part:
                raise ConnectionError("the client closed the connection")
            data += part
        return data

    first, second = exactly(2)
    length = second & 0x7F
    if length == 126:
        length = struct.unpack("!H", exactly(2))[0]
    mask = exactly(4)  # a client's frames are masked
    return first & 0x0F, bytes(b ^ mask[i % 4] for i, b in enumerate(exactly(length)))


def _receive_text(connection: socket.socket) -> dict:
    return json.loads(_receive_frame(connection)[1])


def _answer_close(connection: socket.socket) -> None:
    """What OBS does until the client leaves: read its frames and answer its close frame with one."""
    try:
        while _receive_frame(connection)[0] != 0x8:
            pass
        connection.sendall(bytes([0x88, 0]))  # close, no status
    except OSError:
        pass
    finally:
        connection.close()


def _accept_obs_websocket(server: socket.socket, version: bool = True) -> socket.socket:
    """The next connection that asks for a WebSocket (the client's port probe connects and closes first),
    through the server side of obs-websocket 5's handshake and, with `version`, an answer to GetVersion (the
    client asks for it when it first connects, not when it reconnects)."""
    while True:
        connection, _ = server.accept()
        request = b""
        while b"\r\n\r\n" not in request and (part := connection.recv(4096)):
            request += part
        if request:
            break
        connection.close()  # the probe
    key = re.search(rb"Sec-WebSocket-Key: *(\S+)", request, re.IGNORECASE).group(1)
    accept = base64.b64encode(hashlib.sha1(key + GUID.encode()).digest()).decode()
    connection.sendall(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept}\r\n\r\n".encode()
    )
    _send_text(connection, {"op": 0, "d": {"obsWebSocketVersion": "5.1.0", "rpcVersion": 1}})
    assert _receive_text(connection)["op"] == 1  # Identify
    _send_text(connection, {"op": 2, "d": {"negotiatedRpcVersion": 1}})
    if not version:
        return connection
    ask = _receive_text(connection)["d"]
    assert ask["requestType"] == "GetVersion"
    _send_text(
        connection,
        {
            "op": 7,
            "d": {
                "requestType": "GetVersion",
                "requestId": ask["requestId"],
                "requestStatus": {"result": True, "code": 100},
                "responseData": {"obsVersion": "29.0.2", "obsWebSocketVersion": "5.1.0"},
            },
        },
    )
    return connection


def test_a_reset_connection_is_reported_and_reconnected():
    """OBS resets the connection (it was killed mid-stream): DISCONNECTED, then a reconnect and
    CONNECTED, as for a clean close. (obs-websocket-py lets the reset end its receive thread silently.)"""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(4)

        def serve() -> None:
            first = _accept_obs_websocket(server)
            time.sleep(0.3)
            first.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            first.close()  # with linger 0: a TCP reset, not a close handshake
            _answer_close(_accept_obs_websocket(server, version=False))

        threading.Thread(target=serve, daemon=True).start()
        client = ObsClient("127.0.0.1", server.getsockname()[1], timeout=2, reconnect_s=0.2)
        try:
            names = [client.events.get(timeout=10).name for _ in range(2)]
            assert names == [DISCONNECTED, CONNECTED]
            assert client.connected
        finally:
            client.close()


def test_the_receive_thread_s_socket_error_is_not_printed_as_a_traceback():
    printed: list[object] = []
    hook = _quiet_lost_receiver(printed.append)
    receiver = RecvThread.__new__(RecvThread)  # only its type matters to the hook
    error = ConnectionResetError(104, "Connection reset by peer")
    hook(threading.ExceptHookArgs([type(error), error, None, receiver]))
    assert printed == []  # the watcher reports the loss as DISCONNECTED instead
    other = threading.ExceptHookArgs([ValueError, ValueError("x"), None, threading.current_thread()])
    hook(other)
    assert printed == [other]  # anything else still reaches the previous hook
