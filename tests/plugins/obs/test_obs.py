"""`--output obs` and the OBS script against a real OBS Studio 29 (obs-websocket 5.1), headless under
Xvfb in a network namespace of its own (conftest.py, headless.py).

v2v runs as `python -m tests.plugins.obs.standin` (the real entry point with a stand-in engine that
inverts the colours) on the pattern, whose frames carry their number: a screenshot of `V2V Output`
taken through obs-websocket gives the frame number OBS shows, and is compared with exactly what v2v
sent for that frame."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from capture.counter import decode_counter
from capture.sources.pattern import pattern_image
from plugins.obs.client import ObsClient, ObsError
from plugins.obs.setup import OUTPUT_NAME
from tests.capture.helpers import REPO, decode_video
from tests.plugins.obs.conftest import SCRIPT_CONTROL_PORT
from tests.plugins.obs.headless import SCENES, TEXT_SOURCE

pytestmark = pytest.mark.obs

SIZE = (320, 176)  # the pattern's size and the stand-in's working size (multiples of 16: nothing resized)
STYLES = """\
["Scene"]
prompt = "scene one style"
strength = 0.8

["Scene 2"]
prompt = "scene two style"
strength = 0.5
"""


def wait_for(
    what: str,
    check: Callable[[], object],
    timeout: float = 20.0,
    every: float = 0.2,
    detail: Callable[[], str] | None = None,
) -> object:
    """Call `check` until it returns something true (returned) or `timeout` seconds pass (a failure, with
    `detail()` in its message: what v2v printed, say)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}" + (f"\n{detail()}" if detail else ""))
        time.sleep(every)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get_status(port: int) -> dict | None:
    """v2v's GET /status, or None while nothing answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=1) as answer:
            return json.loads(answer.read())
    except (OSError, ValueError):
        return None


def screenshot(client: ObsClient, size: tuple[int, int] = SIZE) -> np.ndarray | None:
    """What `V2V Output` shows now, uint8 RGB [H, W, 3] (None while OBS has no such source)."""
    try:
        answer = client.call(
            "GetSourceScreenshot", sourceName=OUTPUT_NAME, imageFormat="png", imageWidth=size[0], imageHeight=size[1]
        )
    except ObsError:
        return None
    png = base64.b64decode(answer["imageData"].split(",", 1)[1])
    return np.ascontiguousarray(cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)[..., ::-1])


def shown_frame(client: ObsClient) -> tuple[int, np.ndarray] | None:
    """(frame number, picture) of what OBS shows, when it shows one of v2v's frames."""
    image = screenshot(client)
    if image is None:
        return None
    number = decode_counter(255 - image)  # the stand-in inverted the colours
    return None if number is None else (number, image)


def output_items(client: ObsClient, scene: str) -> list[dict]:
    return [i for i in client.call("GetSceneItemList", sceneName=scene)["sceneItems"] if i["sourceName"] == OUTPUT_NAME]


def output_inputs(client: ObsClient) -> list[dict]:
    return [i for i in client.call("GetInputList")["inputs"] if i["inputName"] == OUTPUT_NAME]


class Run:
    """`python -m tests.plugins.obs.standin --input pattern:320x176 --output obs ...` in the background."""

    def __init__(self, studio, tmp: Path, *args: str) -> None:
        self.port = free_port()
        self.engine_log = tmp / f"engine-{self.port}.log"
        self.stderr_path = tmp / f"v2v-{self.port}.err"
        env = dict(
            os.environ,
            V2V_OBS_PASSWORD=studio.password,
            PYTHONPATH=str(REPO),
            OMP_NUM_THREADS="1",
            V2V_TEST_ENGINE_LOG=str(self.engine_log),
        )
        env.pop("DISPLAY", None)
        with open(self.stderr_path, "w") as err:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.plugins.obs.standin",
                    "--input",
                    f"pattern:{SIZE[0]}x{SIZE[1]}",
                    "--output",
                    "obs",
                    "--size",
                    f"{SIZE[0]}x{SIZE[1]}",
                    "--control-port",
                    str(self.port),
                    "--obs-port",
                    str(studio.port),
                    *args,
                ],
                cwd=REPO,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def status(self) -> dict | None:
        assert self.proc.poll() is None, f"v2v ended with {self.proc.returncode}: {self.stderr}"
        return get_status(self.port)

    def engine_changes(self) -> list[dict]:
        return (
            [json.loads(line) for line in self.engine_log.read_text().splitlines()] if self.engine_log.exists() else []
        )

    def stop(self) -> str:
        """SIGTERM (as Ctrl-C), wait, and return stderr."""
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)
        return self.stderr


def script_v2v_status(log: Path) -> dict | None:
    """GET /status of the v2v the script started; a failure if it ended with an error."""
    status = get_status(SCRIPT_CONTROL_PORT)
    if status is None and log.exists() and "error:" in log.read_text():
        pytest.fail(f"the v2v the script started failed: {log.read_text()}")
    return status


def assert_shows_what_v2v_sent(client: ObsClient, run: Run | None = None) -> int:
    """OBS shows v2v's live picture: two screenshots of different frames, each exactly the restyled frame
    v2v sent with that number (not the input, not black, not a frame left from an earlier run). Returns
    the later frame's number. A failure quotes what `run` printed."""
    number = -1
    for _ in range(2):
        number, image = wait_for(
            "OBS to show v2v's live picture",
            lambda before=number: (shown := shown_frame(client)) and shown[0] != before and shown,
            timeout=30,
            detail=None if run is None else lambda: f"v2v printed:\n{run.stderr}",
        )
        sent = 255 - pattern_image(number, SIZE)  # exactly what the stand-in engine produced for that frame
        error = np.abs(image.astype(int) - sent).mean()
        assert error < 12, f"the screenshot differs from frame {number} as sent by {error:.1f} levels on average"
        assert np.abs(image.astype(int) - pattern_image(number, SIZE)).mean() > 60  # restyled, not the raw input
    return number


# ---- one run: the output, the scene styles, the prompt source, the status broadcast -------------------
@pytest.fixture(scope="class")
def streaming(obs_studio, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("streaming")
    (tmp / "styles.toml").write_text(STYLES)
    with obs_studio.inside():
        run = Run(
            obs_studio,
            tmp,
            "--prompt",
            "first prompt",
            "--obs-styles",
            str(tmp / "styles.toml"),
            "--obs-prompt-source",
            TEXT_SOURCE,
        )
        yield run
        err = run.stop()
    assert "Traceback" not in err, err


class TestOneRun:
    def test_output_appears_once_in_the_current_scene_and_shows_the_restyled_picture(self, streaming, obs_client):
        assert_shows_what_v2v_sent(obs_client)
        assert len(output_inputs(obs_client)) == 1 and output_inputs(obs_client)[0]["inputKind"] == "ffmpeg_source"
        items = output_items(obs_client, SCENES[0])
        assert len(items) == 1 and not output_items(obs_client, SCENES[1])
        transform = items[0]["sceneItemTransform"]  # fitted to the 1280x720 canvas, aspect kept
        assert transform["boundsType"] == "OBS_BOUNDS_SCALE_INNER"
        assert (transform["boundsWidth"], transform["boundsHeight"]) == (1280.0, 720.0)
        answer = obs_client.call(
            "GetSourceScreenshot", sourceName=SCENES[0], imageFormat="png", imageWidth=640, imageHeight=360
        )  # the scene as the program shows it
        scene = cv2.imdecode(
            np.frombuffer(base64.b64decode(answer["imageData"].split(",", 1)[1]), np.uint8), cv2.IMREAD_GRAYSCALE
        )
        # 320x176 scaled into 640x360 is 640x352, centred: the picture spans the width, thin bars above and below
        assert scene[8:352, :3].mean() > 40 and scene[8:352, -3:].mean() > 40
        assert scene[:3].max() < 10 and scene[-3:].max() < 10
        assert f"{OUTPUT_NAME!r} in scene 'Scene'" in streaming.stderr

    def test_switching_scenes_switches_the_style_and_the_status_is_broadcast(self, streaming, obs_client):
        wait_for("v2v's control endpoint", streaming.status)
        obs_client.call("SetCurrentProgramScene", sceneName=SCENES[1])
        status = wait_for(
            "the style of Scene 2", lambda: (s := streaming.status()) and s["prompt"] == "scene two style" and s
        )
        assert status["strength"] == 0.5
        wait_for("the engine to get it", lambda: {"prompt": "scene two style"} in streaming.engine_changes())
        assert {"strength": 0.5} in streaming.engine_changes()

        def broadcast() -> bool:
            while not obs_client.events.empty():
                event = obs_client.events.get()
                if (
                    event.name == "CustomEvent"
                    and event.data.get("source") == "v2v"
                    and event.data.get("prompt") == "scene two style"
                ):
                    return event.data["fps"] > 0 and event.data["strength"] == 0.5
            return False

        wait_for("a status broadcast with the new prompt", broadcast, timeout=5)
        obs_client.call("SetCurrentProgramScene", sceneName=SCENES[0])
        wait_for("the style of Scene", lambda: streaming.status()["prompt"] == "scene one style")
        assert streaming.status()["strength"] == 0.8

    def test_a_text_source_s_new_text_changes_the_prompt(self, streaming, obs_client):
        wait_for("v2v's control endpoint", streaming.status)
        obs_client.call("SetInputSettings", inputName=TEXT_SOURCE, inputSettings={"text": "a castle\nmade of sweets"})
        wait_for("the text as the prompt", lambda: streaming.status()["prompt"] == "a castle made of sweets")
        wait_for("the engine to get it", lambda: {"prompt": "a castle made of sweets"} in streaming.engine_changes())
        assert "from text source 'Prompt Text'" in streaming.stderr


# ---- runs of their own -------------------------------------------------------------------------------
def test_a_second_run_reuses_the_output_and_obs_scene_picks_another_scene(obs_studio, obs_client, tmp_path):
    assert len(output_inputs(obs_client)) == 1  # left in place by the run before
    run = Run(obs_studio, tmp_path, "--obs-scene", SCENES[1], "--output", str(tmp_path / "sent.mp4"))
    try:
        # OBS may still play what it buffered of the run before until this run has set V2V Output up
        wait_for(
            "v2v to set up V2V Output",
            lambda: f"in scene {SCENES[1]!r}" in run.stderr,
            timeout=60,
            detail=lambda: run.stderr,
        )
        assert_shows_what_v2v_sent(obs_client, run)  # live: this run's picture, the run before has ended
        assert len(output_inputs(obs_client)) == 1
        in_scenes = [len(output_items(obs_client, scene)) for scene in SCENES[:2]]
        assert in_scenes == [1, 1], f"V2V Output in {SCENES[:2]}: {in_scenes}; v2v printed:\n{run.stderr}"
    finally:
        err = run.stop()
    assert "Traceback" not in err and f"in scene {SCENES[1]!r}" in err, err
    assert len(output_inputs(obs_client)) == 1  # leaving v2v leaves the source in place
    frames, _, _ = decode_video(tmp_path / "sent.mp4")  # the same frames went to a file as well
    assert frames and all(decode_counter(255 - image) == i for i, image in enumerate(frames[:10]))


def test_a_wrong_password_is_one_line_without_the_password(obs_studio):
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", V2V_OBS_PASSWORD="not-the-secret-4711")
    command = [sys.executable, "-m", "v2v", "--input", "pattern", "--output", "obs", "--obs-port", str(obs_studio.port)]
    runs = [
        subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for argv in (command, [*command, "--debug", "--obs-password", "other-wrong-0815"])
    ]
    (out, err), (debug_out, debug_err) = (run.communicate(timeout=90) for run in runs)
    assert runs[0].returncode == 1
    assert err.count("\n") == 1 and err.startswith("error: OBS at 127.0.0.1:")
    assert "refused the password" in err and "not-the-secret-4711" not in out + err
    assert runs[1].returncode == 1 and "refused the password" in debug_err.splitlines()[-1]
    assert "Traceback" in debug_err  # --debug shows the traceback, and still not the password
    assert "other-wrong-0815" not in debug_out + debug_err


def test_the_script_is_loaded_and_its_start_launches_v2v_and_stop_ends_it(obs_studio, obs_client):
    hotkeys = obs_client.call("GetHotkeyList")["hotkeys"]
    assert "v2v.start" in hotkeys and "v2v.stop" in hotkeys  # registered by the script's script_load
    obs_client.call("TriggerHotkeyByName", hotkeyName="v2v.start")  # what the Start button calls
    log = obs_studio.root / "v2v_obs.log"  # the script writes v2v's output there
    status = wait_for("the v2v the script started", lambda: script_v2v_status(log), timeout=60)
    assert status["prompt"] == "panel prompt" and status["strength"] == 0.6
    assert any("V2V Output" in s for s in status["sinks"])
    obs_client.call("TriggerHotkeyByName", hotkeyName="v2v.stop")
    wait_for("v2v to end", lambda: get_status(SCRIPT_CONTROL_PORT) is None, timeout=15)
    assert "Traceback" not in log.read_text()


def test_obs_restarted_mid_stream_v2v_reconnects_and_the_picture_returns(obs_studio, obs_client, tmp_path):
    run = Run(obs_studio, tmp_path)
    try:
        before = assert_shows_what_v2v_sent(obs_client)
        obs_studio.restart()  # a new OBS, whose scene collection has no V2V Output
        wait_for("the test's client to reconnect", lambda: obs_client.connected, timeout=15)
        after = assert_shows_what_v2v_sent(obs_client, run)  # set up again by v2v in the new OBS
        assert after > before and run.proc.poll() is None
        assert len(output_items(obs_client, SCENES[0])) == 1
    finally:
        err = run.stop()
    assert "lost the connection" in err and "reconnected" in err and "Traceback" not in err, err


def test_v2v_started_by_the_script_ends_when_obs_is_killed(obs_studio, obs_client):
    obs_client.call("TriggerHotkeyByName", hotkeyName="v2v.start")
    wait_for("the v2v the script started", lambda: script_v2v_status(obs_studio.root / "v2v_obs.log"), timeout=60)
    obs_studio.stop()  # SIGTERM: OBS 29 leaves without unloading the script; --parent-pid ends v2v
    try:
        wait_for("v2v to end with OBS", lambda: get_status(SCRIPT_CONTROL_PORT) is None, timeout=15)
    finally:
        obs_studio.start()
