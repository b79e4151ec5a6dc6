"""plugins/obs/client.py without OBS: the errors when nothing (or something else) listens, and the
password's masking. (Against a real OBS: test_obs.py.)"""

import socket
import threading

import pytest

from plugins.obs.client import PASSWORD_ENV, ObsClient, ObsConnectionError, Secret, _Answers, resolve_password


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
