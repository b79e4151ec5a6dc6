"""A real OBS Studio for the tests: headless under Xvfb, in a network namespace that has only loopback,
with a fresh HOME, a generated password and a scene collection written before each start.

obs-websocket binds every interface and OBS reaches out to the network when it starts, so OBS runs in
a network namespace of its own (`unshare -n`, then `ip link set lo up`), kept by a holder process so
that OBS can be restarted in the same one. The tests must reach OBS's loopback, and OBS must receive
v2v's UDP stream on it: `inside()` moves the test's thread into the namespace (setns), so the test's
client and every v2v the test starts (a child inherits its thread's namespace) share OBS's loopback.
Where namespaces are not allowed (no CAP_SYS_ADMIN), OBS runs in the machine's own namespace on a port
that was free a moment before: it then listens beyond loopback for the few seconds of the tests.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CLONE_NEWNET = 0x40000000
COLLECTION = "V2V Tests"
SCENES = ("Scene", "Scene 2")
TEXT_SOURCE = "Prompt Text"
START_TIMEOUT_S = 30.0


def why_obs_cannot_run() -> str | None:
    """None when OBS and Xvfb are installed; else the reason (the tests then skip)."""
    for tool, package in (("obs", "obs-studio"), ("Xvfb", "xvfb")):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install {package}; .ci/run installs it)"
    return None


def _setns(fd: int) -> None:
    """Move the calling thread into the network namespace open as `fd`."""
    if ctypes.CDLL(None, use_errno=True).setns(fd, CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "setns failed")


def _free_tcp_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class HeadlessObs:
    """OBS in `root` (its HOME and logs); `start()`, `stop()`, `restart()`, `close()`. `script` is an OBS
    script to load, with its `script_settings`."""

    def __init__(self, root: Path, script: Path | None = None, script_settings: dict | None = None) -> None:
        self.root = root
        self.home = root / "home"
        self.password = "pw-" + secrets.token_hex(8)
        self.script, self.script_settings = script, dict(script_settings or {})
        self.proc: subprocess.Popen | None = None
        self.xvfb: subprocess.Popen | None = None
        self.holder: subprocess.Popen | None = None
        self.netns: str | None = None  # /proc/PID/ns/net of the namespace, None: the machine's own
        self.display = ""
        self.starts = 0
        self._depth = 0  # how deep `inside()` blocks are nested
        self._host_ns = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        self._open_namespace()
        self.port = 4455 if self.netns else _free_tcp_port()

    # ---- the namespace -----------------------------------------------------------------------------
    def _open_namespace(self) -> None:
        if shutil.which("unshare") is None or shutil.which("ip") is None:
            self.why_no_namespace = "unshare or ip is missing"
            return
        holder = subprocess.Popen(
            ["unshare", "-n", "sh", "-c", "ip link set lo up && echo up && exec sleep 100000"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        line = holder.stdout.readline().strip()
        if line != "up":
            holder.wait()
            self.why_no_namespace = " ".join(holder.stderr.read().split()) or "unshare -n failed"
            return
        obs_ns = os.open(f"/proc/{holder.pid}/ns/net", os.O_RDONLY)
        try:  # this process must be allowed to enter it too
            _setns(obs_ns)
            _setns(self._host_ns)
        except OSError as e:
            os.close(obs_ns)
            holder.kill()
            holder.wait()
            self.why_no_namespace = f"cannot enter the namespace ({e.strerror or e})"
            return
        self.holder, self.netns, self._obs_ns = holder, f"/proc/{holder.pid}/ns/net", obs_ns
        self.why_no_namespace = ""

    @contextlib.contextmanager
    def inside(self) -> Iterator[None]:
        """Run the block (and the processes it starts) in OBS's network namespace."""
        if self.netns is None or self._depth:  # no namespace, or already inside
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        _setns(self._obs_ns)
        self._depth = 1
        try:
            yield
        finally:
            self._depth = 0
            _setns(self._host_ns)

    # ---- OBS ---------------------------------------------------------------------------------------
    def _write_config(self) -> None:
        config = self.home / ".config" / "obs-studio"
        scenes = config / "basic" / "scenes"
        if scenes.exists():
            shutil.rmtree(scenes)  # each start begins with the collection below, nothing OBS saved
        scenes.mkdir(parents=True)
        (config / "global.ini").write_text(
            "[General]\nFirstRun=true\n"
            f"[Basic]\nSceneCollection={COLLECTION}\nSceneCollectionFile={COLLECTION}\n"
            "[OBSWebSocket]\nFirstLoad=false\nServerEnabled=true\n"
            f"ServerPort={self.port}\nAlertsEnabled=false\nAuthRequired=true\nServerPassword={self.password}\n"
        )
        plugin = config / "plugin_config" / "obs-websocket"  # obs-websocket 5.5+ reads this instead
        plugin.mkdir(parents=True, exist_ok=True)
        (plugin / "config.json").write_text(
            json.dumps(
                {
                    "server_enabled": True,
                    "server_port": self.port,
                    "auth_required": True,
                    "server_password": self.password,
                    "alerts_enabled": False,
                    "first_load": False,
                }
            )
        )
        text_item = {
            "name": TEXT_SOURCE,
            "id": 1,
            "visible": True,
            "locked": False,
            "rot": 0.0,
            "align": 5,
            "pos": {"x": 0.0, "y": 0.0},
            "scale": {"x": 1.0, "y": 1.0},
            "bounds_type": 0,
            "bounds_align": 0,
            "bounds": {"x": 0.0, "y": 0.0},
        }
        # OBS drops a source that no scene shows when it loads a collection: the text sits in the last scene
        sources: list[dict[str, Any]] = [
            {
                "id": "scene",
                "versioned_id": "scene",
                "name": name,
                "settings": {"items": [text_item] if name == SCENES[-1] else [], "id_counter": 1, "custom_size": False},
            }
            for name in SCENES
        ]
        sources.append(
            {
                "id": "text_ft2_source",
                "versioned_id": "text_ft2_source_v2",
                "name": TEXT_SOURCE,
                "settings": {"text": "initial words"},
            }
        )
        modules: dict[str, Any] = {"scripts-tool": []}
        if self.script is not None:
            modules["scripts-tool"].append({"path": str(self.script), "settings": self.script_settings})
        (scenes / f"{COLLECTION}.json").write_text(
            json.dumps(
                {
                    "name": COLLECTION,
                    "current_scene": SCENES[0],
                    "current_program_scene": SCENES[0],
                    "scene_order": [{"name": n} for n in SCENES],
                    "sources": sources,
                    "modules": modules,
                }
            )
        )

    def _start_xvfb(self) -> None:
        read_end, write_end = os.pipe()
        self.xvfb = subprocess.Popen(
            ["Xvfb", "-displayfd", str(write_end), "-screen", "0", "1280x720x24", "-nolisten", "tcp", "-noreset"],
            pass_fds=(write_end,),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(write_end)
        with os.fdopen(read_end) as numbers:
            self.display = f":{numbers.readline().strip()}"
        if self.display == ":":
            raise RuntimeError("Xvfb did not start")

    def start(self) -> None:
        """Start OBS and wait until obs-websocket takes connections."""
        self._write_config()
        runtime = self.root / "run"
        runtime.mkdir(mode=0o700, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if k not in ("WAYLAND_DISPLAY", "XDG_SESSION_TYPE")}
        env.update(
            HOME=str(self.home),
            XDG_RUNTIME_DIR=str(runtime),
            XDG_CONFIG_HOME=str(self.home / ".config"),
            QT_QPA_PLATFORM="xcb",
            LIBGL_ALWAYS_SOFTWARE="1",
            TMPDIR=str(self.root),
            OMP_NUM_THREADS="1",
        )
        self.starts += 1
        with self.inside():
            if self.xvfb is None:
                self._start_xvfb()
            env["DISPLAY"] = self.display
            with open(self.root / f"obs-{self.starts}.log", "w") as log:
                self.proc = subprocess.Popen(
                    ["obs", "--multi", "--disable-missing-files-check", "--minimize-to-tray"],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                )
            self._wait_for_port()

    def _wait_for_port(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"OBS exited with {self.proc.returncode} at start: {self.log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"obs-websocket did not listen within {START_TIMEOUT_S:g} s: {self.log_tail()}"
                    ) from None
                time.sleep(0.1)

    def log_tail(self, lines: int = 15) -> str:
        """The end of the newest OBS log."""
        path = self.root / f"obs-{self.starts}.log"
        return " | ".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def stop(self) -> None:
        """SIGTERM, as a desktop session ends OBS (OBS 29 then unloads no scripts)."""
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        """Stop OBS and start a new one in the same namespace, with a fresh scene collection."""
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop OBS, Xvfb and the namespace."""
        self.stop()
        for proc in (self.xvfb, self.holder):
            if proc is not None:
                proc.terminate()
                proc.wait()
        self.xvfb = self.holder = None
        for fd in (self._host_ns, getattr(self, "_obs_ns", None)):
            if fd is not None:
                os.close(fd)
