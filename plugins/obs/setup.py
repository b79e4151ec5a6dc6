"""The `V2V Output` input in OBS: found or created (never twice), pointed at v2v's picture and fitted to
the canvas.

The picture reaches OBS one of two ways:
- a virtual camera, when this machine has one that OBS also lists: a Video Capture Device input
  (`v4l2_input` on Linux, `dshow_input` on Windows, `macos-avcapture` on macOS) showing it;
- otherwise a Media Source (`ffmpeg_source`) playing v2v's low-latency H.264 MPEG-TS stream from a
  UDP port on loopback (capture/sinks/stream.py), which works on any machine, with or without a camera.
"""

from __future__ import annotations

import re
import socket
import sys
from dataclasses import dataclass
from typing import Any

from plugins.obs.client import ObsClient, ObsError, ObsRequestError

OUTPUT_NAME = "V2V Output"
STREAM_KIND = "ffmpeg_source"
# the input kind of a camera device per OS, and the setting that names the device
DEVICE_KINDS = {
    "linux": ("v4l2_input", "device_id"),
    "win32": ("dshow_input", "video_device_id"),
    "darwin": ("macos-avcapture", "device"),
}
OLD_MACOS_KIND = ("av_capture_input", "device")  # before OBS 30
FIT = "OBS_BOUNDS_SCALE_INNER"  # the whole picture inside the canvas, aspect kept
TOP_LEFT = 5  # OBS_ALIGN_LEFT | OBS_ALIGN_TOP
CENTER = 0
NOT_FOUND = 600  # obs-websocket's ResourceNotFound


@dataclass(frozen=True)
class OutputPlan:
    """What `V2V Output` should be: an input kind and its settings."""

    kind: str
    settings: dict[str, Any]
    describe: str  # how it gets the picture, for messages


def stream_plan(port: int) -> OutputPlan:
    """A Media Source playing udp://127.0.0.1:PORT (MPEG-TS), with as little buffering as it allows."""
    url = f"udp://127.0.0.1:{port}"
    settings = {
        "is_local_file": False,
        "input": url,
        "input_format": "mpegts",
        "buffering_mb": 1,
        "hw_decode": False,
        "close_when_inactive": False,
        "restart_on_activate": False,
        "clear_on_media_end": False,
    }
    return OutputPlan(STREAM_KIND, settings, f"a Media Source playing {url}")


def device_kind(kinds: list[str]) -> tuple[str, str] | None:
    """(input kind, device setting) of this OS's camera input when OBS has it."""
    wanted = DEVICE_KINDS.get("linux" if sys.platform.startswith("linux") else sys.platform)
    for option in (wanted, OLD_MACOS_KIND if sys.platform == "darwin" else None):
        if option is not None and option[0] in kinds:
            return option
    return None


def free_udp_port() -> int:
    """A UDP port on 127.0.0.1 that nothing uses now."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def stream_port(client: ObsClient) -> int:
    """The port `V2V Output` already plays from (a re-run keeps it), else a free one."""
    try:
        settings = client.call("GetInputSettings", inputName=OUTPUT_NAME)
    except ObsRequestError as e:
        if e.code != NOT_FOUND:
            raise
        return free_udp_port()
    url = str(settings.get("inputSettings", {}).get("input", ""))
    match = re.fullmatch(r"udp://127\.0\.0\.1:(\d+)", url)
    return int(match[1]) if match and settings.get("inputKind") == STREAM_KIND else free_udp_port()


def current_scene(client: ObsClient) -> str:
    """The current program scene (obs-websocket 5.1 answers only `currentProgramSceneName`)."""
    answer = client.call("GetCurrentProgramScene")
    return str(answer.get("sceneName") or answer["currentProgramSceneName"])


def scene_names(client: ObsClient) -> list[str]:
    """Every scene's name, in OBS's order."""
    return [str(s["sceneName"]) for s in reversed(client.call("GetSceneList").get("scenes", []))]


def pick_scene(client: ObsClient, wanted: str | None) -> str:
    """`wanted` when OBS has that scene (an error lists the scenes otherwise), else the program scene."""
    if wanted is None:
        return current_scene(client)
    names = scene_names(client)
    if wanted not in names:
        raise ObsError(
            f"--obs-scene {wanted!r}: OBS has no such scene (scenes: "
            f"{', '.join(repr(n) for n in names) or 'none'}): give one of those, or leave it out "
            "for the current program scene"
        )
    return wanted


def _input_kind(client: ObsClient, name: str) -> str | None:
    for entry in client.call("GetInputList").get("inputs", []):
        if entry.get("inputName") == name:
            return str(entry.get("inputKind"))
    return None


def ensure_output(client: ObsClient, scene: str, plan: OutputPlan) -> int:
    """Make `V2V Output` follow `plan` and appear exactly once in `scene`, fitted to the canvas; returns
    its scene item id. An existing input of the same kind is reused (its settings updated), one of
    another kind is replaced; extra copies in the scene are removed."""
    kind = _input_kind(client, OUTPUT_NAME)
    if kind is not None and kind != plan.kind:
        client.call("RemoveInput", inputName=OUTPUT_NAME)
        kind = None
    if kind is None:
        item = int(
            client.call(
                "CreateInput",
                sceneName=scene,
                inputName=OUTPUT_NAME,
                inputKind=plan.kind,
                inputSettings=plan.settings,
                sceneItemEnabled=True,
            )["sceneItemId"]
        )
    else:
        client.call("SetInputSettings", inputName=OUTPUT_NAME, inputSettings=plan.settings, overlay=True)
        items = [
            i
            for i in client.call("GetSceneItemList", sceneName=scene).get("sceneItems", [])
            if i.get("sourceName") == OUTPUT_NAME
        ]
        if not items:
            item = int(
                client.call("CreateSceneItem", sceneName=scene, sourceName=OUTPUT_NAME, sceneItemEnabled=True)[
                    "sceneItemId"
                ]
            )
        else:
            item = int(items[0]["sceneItemId"])
            for extra in items[1:]:
                client.call("RemoveSceneItem", sceneName=scene, sceneItemId=int(extra["sceneItemId"]))
        if plan.kind == STREAM_KIND:  # start reading again: the previous stream ended
            client.call(
                "TriggerMediaInputAction", inputName=OUTPUT_NAME, mediaAction="OBS_WEBSOCKET_MEDIA_INPUT_ACTION_RESTART"
            )
    fit_to_canvas(client, scene, item)
    return item


def fit_to_canvas(client: ObsClient, scene: str, item: int) -> None:
    """Scale scene item `item` of `scene` to fit OBS's canvas, aspect kept, centred."""
    video = client.call("GetVideoSettings")
    w, h = float(video["baseWidth"]), float(video["baseHeight"])
    client.call(
        "SetSceneItemTransform",
        sceneName=scene,
        sceneItemId=item,
        sceneItemTransform={
            "positionX": 0.0,
            "positionY": 0.0,
            "alignment": TOP_LEFT,
            "rotation": 0.0,
            "boundsType": FIT,
            "boundsWidth": w,
            "boundsHeight": h,
            "boundsAlignment": CENTER,
        },
    )


def point_device_input(client: ObsClient, setting: str, device: str) -> bool:
    """Set `V2V Output`'s device to the one OBS lists as `device` (its path or its name); False when OBS
    does not list it (then the caller falls back to the stream)."""
    items = client.call("GetInputPropertiesListPropertyItems", inputName=OUTPUT_NAME, propertyName=setting).get(
        "propertyItems", []
    )
    for entry in items:
        value, name = str(entry.get("itemValue", "")), str(entry.get("itemName", ""))
        if device in (value, name) or (device and device in name):
            client.call("SetInputSettings", inputName=OUTPUT_NAME, inputSettings={setting: value}, overlay=True)
            return True
    return False
