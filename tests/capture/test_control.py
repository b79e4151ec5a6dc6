"""capture/control.py: stdin commands and the HTTP endpoint steer a running stream (the engine sees a
new prompt within two chunks), bad commands and requests are refused with their reason while the
stream goes on, and beyond loopback every request needs the token."""

import http.client
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time

import pytest

from capture.cli import main
from capture.control import ControlError, ControlServer, Steering, is_loopback, run_command, stdin_takes_commands
from capture.errors import CaptureError
from capture.restyler import Restyler
from capture.runtime import Controls, run_live
from capture.sinks.null import NullSink
from capture.sources.pattern import PatternSource
from tests.capture.helpers import REPO, IdentityEngine, v2v_env

STATUS_KEYS = {
    "fps",
    "latency_p50_ms",
    "latency_p95_ms",
    "dropped",
    "frames",
    "prompt",
    "strength",
    "paused",
    "source",
    "sinks",
}


def request(
    port: int, method: str, path: str, body: bytes | None = None, headers: dict | None = None
) -> tuple[int, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def wait_for(condition, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


class LiveRun:
    """run_live on an endless real-time pattern in a thread, with the stand-in engine."""

    def __init__(self, controls: Controls) -> None:
        self.engine = IdentityEngine()
        self.engine.prompt = controls.steering.snapshot()["prompt"]
        self.controls = controls
        self.result = None
        self.error = None
        self._thread = threading.Thread(target=self._run)
        self._thread.start()

    def _run(self) -> None:
        try:
            self.result = run_live(
                PatternSource((32, 32), fps=200, realtime=True),
                NullSink(),
                Restyler(self.engine, (32, 32)),
                threading.Event(),
                progress=False,
                controls=self.controls,
            )
        except BaseException as e:
            self.error = e

    def finish(self):
        self.controls.steering.quit.set()
        self._thread.join(timeout=30)
        assert not self._thread.is_alive() and self.error is None, self.error
        return self.result


# ---- commands ------------------------------------------------------------------------------------
def test_commands_change_the_steering_and_bad_ones_say_why():
    steering = Steering("blocky", 0.7)
    assert "sunny hills" in run_command("prompt   sunny hills ", steering)
    assert run_command("strength 0.25", steering) and run_command("pause", steering)
    assert steering.snapshot() == {"prompt": "sunny hills", "strength": 0.25, "paused": True}
    run_command("resume", steering)
    assert not steering.paused and run_command("", steering) is None
    for line, match in [
        ("strength 0", r"in \(0, 1\]"),
        ("strength 1.5", r"in \(0, 1\]"),
        ("strength lots", "a number"),
        ("strength nan", r"in \(0, 1\]"),
        ("prompt", "prompt TEXT"),
        ("dance", "unknown command 'dance': use prompt TEXT"),
        ("pause now", "unknown command"),
    ]:
        with pytest.raises(ControlError, match=match):
            run_command(line, steering)
    assert steering.snapshot()["strength"] == 0.25 and not steering.quit.is_set()
    run_command("quit", steering)
    assert steering.quit.is_set()


def test_commands_are_read_only_from_a_terminal_or_a_pipe(tmp_path):
    read, write = os.pipe()
    with os.fdopen(read) as pipe, open(os.devnull) as null, open(tmp_path / "f.txt", "w+") as regular:
        assert stdin_takes_commands(pipe)
        assert not stdin_takes_commands(null) and not stdin_takes_commands(regular)
    os.close(write)
    with open(os.devnull) as closed:
        pass
    assert not stdin_takes_commands(closed) and not stdin_takes_commands(None)


def test_stdin_commands_steer_a_running_stream_and_quit_ends_it(capsys):
    read, write = os.pipe()
    steering = Steering("blocky", 0.7)
    run = LiveRun(Controls(steering, stdin=True, stdin_fd=read))
    try:
        os.write(write, b"prompt realistic sunny hills\nwiggle\nstrength 2\n")
        assert wait_for(lambda: "realistic sunny hills" in run.engine.chunk_prompts), run.engine.chunk_prompts
        os.write(write, b"strength 0.5\nquit\n")
        assert wait_for(lambda: run.result is not None or run.error is not None)
    finally:
        os.close(write)
        result = run.finish()
        os.close(read)
    assert run.engine.strength == 0.5 and not result.interrupted and result.frames_out == result.frames_in > 0
    err = capsys.readouterr().err.splitlines()
    assert "control: unknown command 'wiggle': use prompt TEXT, strength S, pause, resume, quit, help" in err
    assert any(line.startswith("control: strength must be in (0, 1]") for line in err), err
    assert "control: quitting: finishing the outputs" in err


def test_python_m_v2v_reads_commands_and_serves_status(tiny_model):
    """The real command line and engine: a pipe on stdin and --control-port 0 (a free port)."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "v2v",
            "--input",
            "pattern:64x64",
            "--output",
            "null",
            "--model",
            tiny_model,
            "--control-port",
            "0",
            "--prompt",
            "blocky",
        ],
        cwd=REPO,
        env=v2v_env(),
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen = []
    reader = threading.Thread(target=lambda: seen.extend(iter(lambda: proc.stderr.read(1), "")), daemon=True)
    reader.start()
    try:
        assert wait_for(lambda: re.search(r"control: http://127\.0\.0\.1:(\d+)", "".join(seen)), 60), "".join(seen)
        port = int(re.search(r"control: http://127\.0\.0\.1:(\d+)", "".join(seen))[1])
        proc.stdin.write("prompt realistic sunny hills\nfly away\n")
        proc.stdin.flush()
        assert wait_for(lambda: "unknown command 'fly away'" in "".join(seen)), "".join(seen)
        code, body = request(port, "POST", "/control", json.dumps({"strength": 0.5}).encode())
        assert code == 200 and body["prompt"] == "realistic sunny hills" and body["strength"] == 0.5
        assert wait_for(lambda: request(port, "GET", "/status")[1]["frames"] > 0, 60)
        proc.stdin.write("quit\n")
        proc.stdin.flush()
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    reader.join(timeout=5)
    text = "".join(seen)
    assert "frames to null" in text and "(interrupted)" not in text and "Traceback" not in text


# ---- HTTP ----------------------------------------------------------------------------------------
def test_http_status_and_control_steer_the_stream():
    steering = Steering("blocky", 0.7)
    run = LiveRun(Controls(steering, server=ControlServer(steering, 0)))
    port = run.controls.server.port
    try:
        assert wait_for(lambda: request(port, "GET", "/status")[1]["frames"] > 0)
        code, status = request(port, "GET", "/status")
        assert code == 200 and set(status) >= STATUS_KEYS
        assert status["source"] == "pattern 32x32 at 200 fps" and status["sinks"] == ["null"]
        assert status["prompt"] == "blocky" and status["paused"] is False

        code, body = request(port, "POST", "/control", json.dumps({"prompt": "realistic sunny hills"}).encode())
        k = len(run.engine.chunk_prompts)  # chunks done (or in flight) when the change was made
        assert code == 200 and body["prompt"] == "realistic sunny hills" and set(body) >= STATUS_KEYS
        assert wait_for(lambda: len(run.engine.chunk_prompts) >= k + 2)
        assert run.engine.chunk_prompts[k + 1] == "realistic sunny hills"  # within two chunks

        for payload, match in [
            (b"{not json", "not JSON"),
            (b"[1, 2]", "JSON object"),
            (b'{"strength": 2}', r"in \(0, 1\]"),
            (b'{"strength": "lots"}', "a number"),
            (b'{"strength": true}', "a number"),
            (b'{"paused": "yes"}', "true or false"),
            (b'{"prompt": 7}', "text"),
            (b'{"speed": 3}', "unknown field 'speed'"),
        ]:
            code, body = request(port, "POST", "/control", payload)
            assert code == 400 and re.search(match, body["error"]), (payload, body)
        assert request(port, "GET", "/nowhere")[0] == 404
        frames = request(port, "GET", "/status")[1]["frames"]
        assert wait_for(lambda: request(port, "GET", "/status")[1]["frames"] > frames)  # the stream goes on
        assert steering.snapshot() == {"prompt": "realistic sunny hills", "strength": 0.7, "paused": False}
    finally:
        result = run.finish()
    assert not result.interrupted
    with pytest.raises(OSError):  # the run closed the endpoint
        request(port, "GET", "/status")


def test_beyond_loopback_every_request_needs_the_token():
    steering = Steering()
    server = ControlServer(steering, 0, host="0.0.0.0", token="s3cret").start(steering.snapshot)
    try:
        assert request(server.port, "GET", "/status")[0] == 401
        assert request(server.port, "POST", "/control", b'{"prompt": "x"}')[0] == 401
        assert request(server.port, "GET", "/status", headers={"Authorization": "Bearer wrong"})[0] == 401
        assert request(server.port, "GET", "/status", headers={"Authorization": "s3cret"})[0] == 401
        good = {"Authorization": "Bearer s3cret"}
        assert request(server.port, "POST", "/control", b'{"prompt": "x"}', good) == (
            200,
            {"prompt": "x", "strength": 0.7, "paused": False},
        )
        assert steering.snapshot()["prompt"] == "x"
    finally:
        server.close()


def test_beyond_loopback_without_a_token_refuses_to_start(capsys, monkeypatch):
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5") and not is_loopback("example.org")
    with pytest.raises(CaptureError, match="V2V_CONTROL_TOKEN"):
        ControlServer(Steering(), 0, host="0.0.0.0")
    monkeypatch.delenv("V2V_CONTROL_TOKEN", raising=False)
    for argv, match in [
        (["--control-port", "0", "--control-host", "0.0.0.0"], "set V2V_CONTROL_TOKEN"),
        (["--control-port", "70000"], "0 to 65535"),
        (["--control-host", "0.0.0.0"], "needs --control-port"),
    ]:
        assert main(["--input", "pattern", "--output", "null", *argv]) == 1
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and match in err and "\n" not in err, err


def test_a_taken_port_is_a_one_line_error():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(CaptureError, match=f"--control-port {taken.getsockname()[1]}: cannot listen"):
            ControlServer(Steering(), taken.getsockname()[1])
