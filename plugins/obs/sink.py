"""`--output obs`: the restyled stream appears in OBS Studio by itself, as the input `V2V Output` in the
current program scene (or `--obs-scene`), and OBS steers the style.

Opening (before the model loads): connect to obs-websocket, pick the transport (a virtual camera OBS
can see, else the UDP stream into a Media Source, plugins/obs/setup.py), create or reuse `V2V Output`,
check the styles file and the prompt source. While the run goes, a thread of the sink reads OBS's events:

- CurrentProgramSceneChanged: the scene's style from `--obs-styles` goes to the engine (no reset);
- the text of `--obs-prompt-source` becomes the prompt (polled every 0.5 s on obs-websocket 5.1,
  InputSettingsChanged on 5.4+);
- every second the run's status (fps, latency, prompt, strength) goes out with BroadcastCustomEvent
  (`{"source": "v2v", ...}`), for a browser dock or another tool;
- OBS restarted: the client reconnects, and `V2V Output` is set up again in the new OBS.

Closing leaves `V2V Output` in place: it keeps its last frame (or shows nothing), with no error dialog.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from capture.errors import CaptureError, SinkUnavailable
from capture.frame import Frame
from capture.net import is_loopback
from capture.sinks.stream import StreamSink
from plugins.obs.client import (
    CONNECTED,
    DEFAULT_HOST,
    DEFAULT_PORT,
    DISCONNECTED,
    ObsClient,
    ObsDisconnected,
    ObsError,
    ObsEvent,
    resolve_password,
)
from plugins.obs.setup import (
    OUTPUT_NAME,
    OutputPlan,
    current_scene,
    device_kind,
    ensure_output,
    pick_scene,
    point_device_input,
    scene_names,
    stream_plan,
    stream_port,
)
from plugins.obs.styles import Style, has_settings_events, load_styles, prompt_from_text, read_prompt_source

if TYPE_CHECKING:
    from capture.control import Steering
    from capture.sinks import Sink

STEER = "V2VSteer"  # the sink's own event: steering arrived, apply what OBS shows now
SETUP_RETRY_S = 1.0  # after a reconnect, how often setting V2V Output up is tried until it works


@dataclass(frozen=True)
class ObsSinkConfig:
    """Where OBS is and what follows it. The password is not here: it travels apart (see client.py)."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT  # obs-websocket's TCP port
    scene: str | None = None  # the scene for `V2V Output` (None: the current program scene)
    styles: dict[str, Style] = field(default_factory=dict)  # scene name -> style
    prompt_source: str | None = None  # an OBS text source whose text is the prompt
    poll_s: float = 0.5  # how often the prompt source is read where OBS sends no settings events
    status_s: float = 1.0  # how often the status is broadcast


def parse_port(text: str | None) -> int:
    """--obs-port as a number from 1 to 65535 (default 4455)."""
    if text is None:
        return DEFAULT_PORT
    try:
        port = int(text)
    except ValueError:
        raise CaptureError(f"--obs-port {text!r} is not a whole number: give obs-websocket's port, e.g. 4455") from None
    if not 0 < port < 65536:
        raise CaptureError(f"--obs-port must be 1 to 65535, got {port}")
    return port


def config_from_options(options: Any) -> ObsSinkConfig:
    """The sink's config from the parsed command line (None: the defaults)."""
    if options is None:
        return ObsSinkConfig()
    styles = getattr(options, "obs_styles", None)
    return ObsSinkConfig(
        host=getattr(options, "obs_host", None) or DEFAULT_HOST,
        port=parse_port(getattr(options, "obs_port", None)),
        scene=getattr(options, "obs_scene", None),
        styles=load_styles(styles) if styles else {},
        prompt_source=getattr(options, "obs_prompt_source", None),
    )


def open_obs_sink(spec: str, *, size: tuple[int, int], fps: float, options: Any = None) -> ObsSink:
    """The factory registered for `--output obs` (capture.sinks.register_sink)."""
    if spec != "obs":
        raise CaptureError(f"--output {spec}: write just obs; OBS's address goes in --obs-host and --obs-port")
    password = resolve_password(getattr(options, "obs_password", None))
    return ObsSink(config_from_options(options), password, size, fps)


class ObsSink:
    """Shows frames of `size` (W, H) at `fps` in OBS as `V2V Output` (see the module docstring)."""

    def __init__(self, config: ObsSinkConfig, password: str, size: tuple[int, int], fps: float) -> None:
        if not is_loopback(config.host):
            raise CaptureError(
                f"--obs-host {config.host}: the picture reaches OBS on this machine only (a "
                "virtual camera or a loopback stream): run v2v where OBS runs, or use "
                f"--output udp://{config.host}:PORT and an OBS Media Source there"
            )
        self.config, self.size, self.fps = config, size, fps
        self.name = "obs"
        self.wants_stop = False
        self._steering: Steering | None = None
        self._status: Callable[[], dict] | None = None
        self._say: Callable[[str], None] = _stderr
        self._stop = threading.Event()
        self._said: set[str] = set()
        self._source_prompt: str | None = None  # the prompt source's text last applied
        self._setup_due: float | None = None  # when to set V2V Output up again (after a reconnect)
        self.client = ObsClient(config.host, config.port, password)
        self._transport: Sink | None = None
        self._device, self._device_setting = "", ""  # the virtual camera, when the picture goes through one
        try:
            self._prepare()
        except BaseException:
            self._close_all(abort=True)
            raise
        self._worker = threading.Thread(target=self._work, name="v2v-obs", daemon=True)
        self._worker.start()

    # ---- opening ---------------------------------------------------------------------------------
    def _prepare(self) -> None:
        client, config = self.client, self.config
        self.scene = pick_scene(client, config.scene)
        missing = sorted(set(config.styles) - set(scene_names(client)))
        if missing:
            self._say(f"OBS: --obs-styles names scenes OBS does not have (yet): {', '.join(map(repr, missing))}")
        if config.prompt_source is not None:
            read_prompt_source(client, config.prompt_source)  # an unknown source stops here, before the model
        self.plan = self._open_transport()
        self.item = ensure_output(client, self.scene, self.plan)
        if self.plan.kind != "ffmpeg_source":
            self._point_device()
        self._say(
            f"OBS {client.obs_version} (obs-websocket {client.websocket_version}) at {client.address}: "
            f"{OUTPUT_NAME!r} in scene {self.scene!r} shows the picture through {self.plan.describe}"
        )

    def _open_transport(self) -> OutputPlan:
        """A virtual camera OBS can show, else the loopback stream."""
        device = device_kind(list(self.client.call("GetInputKindList").get("inputKinds", [])))
        if device is not None:
            from capture.sinks.vcam import VirtualCameraSink

            try:
                camera = VirtualCameraSink(self.size, self.fps)
            except SinkUnavailable:  # `python -m v2v doctor` says why and how to add one
                self._say("OBS: no virtual camera here, so the picture goes to OBS as a loopback stream")
            else:
                self._transport, self._device = camera, camera.name.partition(":")[2]
                kind, setting = device
                self._device_setting = setting
                return OutputPlan(kind, {}, f"the virtual camera {self._device} ({kind})")
        port = stream_port(self.client)
        self._transport = StreamSink(f"udp://127.0.0.1:{port}", self.size, self.fps, announce=False)
        return stream_plan(port)

    def _point_device(self) -> None:
        """Point the device input at our camera; when OBS does not list it, use the stream instead."""
        if point_device_input(self.client, self._device_setting, self._device):
            return
        self._say(
            f"OBS: OBS does not list the virtual camera {self._device}, so the picture goes through a "
            "loopback stream instead"
        )
        if self._transport is not None:
            self._transport.close()
        port = stream_port(self.client)
        self._transport = StreamSink(f"udp://127.0.0.1:{port}", self.size, self.fps, announce=False)
        self.plan = stream_plan(port)
        self.item = ensure_output(self.client, self.scene, self.plan)

    # ---- the run ---------------------------------------------------------------------------------
    def steer(self, steering: Steering, status: Callable[[], dict], say: Callable[[str], None]) -> None:
        """From now on OBS's scenes and prompt source steer `steering`; `status()` is broadcast."""
        self._say = say
        self._status = status
        self._steering = steering
        self._wake()

    def write(self, frame: Frame) -> None:
        """Send one frame to OBS."""
        if self._transport is None:
            raise CaptureError(f"{self.name} is closed")
        self._transport.write(frame)

    def describe(self) -> str:
        """A short phrase for the status line."""
        via = self._transport.describe() if self._transport is not None else "nothing (closed)"
        return f"OBS {self.client.address} {OUTPUT_NAME!r} in {self.scene!r} via {via}"

    def close(self) -> None:
        """Finish the stream and disconnect; `V2V Output` stays in OBS."""
        self._close_all(abort=False)

    def abort(self) -> None:
        """The same as `close`, without flushing the encoder."""
        self._close_all(abort=True)

    def _close_all(self, abort: bool) -> None:
        self._stop.set()
        worker = getattr(self, "_worker", None)
        if worker is not None and worker is not threading.current_thread():
            worker.join(timeout=5)
        transport, self._transport = self._transport, None
        try:
            if transport is not None:
                transport.abort() if abort else transport.close()
        finally:
            self.client.close()

    # ---- the sink's thread: OBS's events, the prompt source, the status --------------------------
    def _wake(self) -> None:
        self.client.post(ObsEvent(STEER))

    def _once(self, text: str) -> None:
        if text not in self._said:
            self._said.add(text)
            self._say(text)

    def _work(self) -> None:
        poll = self.config.prompt_source is not None and not has_settings_events(self.client)
        due_poll = due_status = time.monotonic()
        while not self._stop.is_set():
            try:
                event = self.client.events.get(timeout=0.1)
            except queue.Empty:
                event = None
            try:
                if event is not None:
                    self._handle(event)
                now = time.monotonic()
                if self._setup_due is not None and now >= self._setup_due:
                    self._setup_due = now + SETUP_RETRY_S  # until it works (OBS may still be loading)
                    self._set_up_again()
                    self._setup_due = None
                if self._steering is None:
                    continue
                if poll and now >= due_poll:
                    due_poll = now + self.config.poll_s
                    self._follow_prompt_source()
                if now >= due_status:
                    due_status = now + self.config.status_s
                    self._broadcast()
            except ObsDisconnected:  # OBS is away; DISCONNECTED said so and CONNECTED will set things up again
                continue
            except ObsError as e:
                self._once(f"OBS: {e}")

    def _handle(self, event: ObsEvent) -> None:
        if event.name == DISCONNECTED:
            self._say(
                f"OBS: lost the connection to {self.client.address}; reconnecting every "
                f"{self.client.reconnect_s:g} s (the stream goes on)"
            )
        elif event.name == CONNECTED:
            self._setup_due = time.monotonic()
        elif event.name == STEER:
            self._follow_scene(current_scene(self.client))
            self._follow_prompt_source()
        elif event.name == "CurrentProgramSceneChanged":
            self._follow_scene(str(event.data.get("sceneName", "")))
        elif event.name == "InputSettingsChanged" and event.data.get("inputName") == self.config.prompt_source:
            self._use_prompt(str(event.data.get("inputSettings", {}).get("text", "")))

    def _set_up_again(self) -> None:
        """After a reconnect (OBS restarted): V2V Output in the new OBS, and its scene's style."""
        self.scene = self.scene if self.scene in scene_names(self.client) else current_scene(self.client)
        self.item = ensure_output(self.client, self.scene, self.plan)
        self._say(f"OBS: reconnected to {self.client.address}; {OUTPUT_NAME!r} is in scene {self.scene!r}")
        self._follow_scene(current_scene(self.client))
        self._follow_prompt_source()

    def _follow_scene(self, scene: str) -> None:
        style = self.config.styles.get(scene)
        if style is None or self._steering is None:
            return
        self._steering.update(prompt=style.prompt, strength=style.strength)
        parts = ([f"prompt {style.prompt!r}"] if style.prompt is not None else []) + (
            [f"strength {style.strength:g}"] if style.strength is not None else []
        )
        self._say(f"OBS: scene {scene!r}: {', '.join(parts)}")

    def _follow_prompt_source(self) -> None:
        if self.config.prompt_source is not None and self._steering is not None:
            self._use_prompt(read_prompt_source(self.client, self.config.prompt_source))

    def _use_prompt(self, text: str) -> None:
        """A new text becomes the prompt; the same text again changes nothing (a scene's style may
        have replaced it meanwhile, and stays)."""
        prompt = prompt_from_text(text)
        if prompt is None or self._steering is None or prompt == self._source_prompt:
            return
        self._source_prompt = prompt
        self._steering.update(prompt=prompt)
        self._say(f"OBS: prompt {prompt!r} from text source {self.config.prompt_source!r}")

    def _broadcast(self) -> None:
        if self._status is None or not self.client.connected:
            return
        status = self._status()
        self.client.call(
            "BroadcastCustomEvent",
            eventData={
                "source": "v2v",
                "fps": status.get("fps"),
                "latency_ms": status.get("latency_p50_ms"),
                "prompt": status.get("prompt"),
                "strength": status.get("strength"),
                "frames": status.get("frames"),
                "dropped": status.get("dropped"),
            },
        )


def _stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
