"""v2v for OBS Studio: a panel in Tools → Scripts that starts and stops v2v, shows its status and sends it
prompt and strength changes while it runs.

OBS runs this script with its own Python (on Linux the system's), not v2v's virtualenv, so it uses the
standard library only: v2v runs as a child process, `PYTHON -m v2v --input SRC --output obs
--control-port N --parent-pid OBS_PID ...`, with the virtualenv's Python chosen in the panel, and is
steered through its control endpoint (GET /status, POST /control on 127.0.0.1:N).

The child ends with OBS in every case: Stop, the script unloaded, OBS exiting (the frontend's exit
event), and OBS killed or ended by SIGTERM (OBS 29 then unloads no scripts): `--parent-pid` makes v2v
stop by itself once OBS is gone.

Hotkeys `v2v.start` and `v2v.stop` (Settings → Hotkeys, or obs-websocket's TriggerHotkeyByName) do what
the buttons do. v2v's output goes to v2v_obs.log in the temporary folder; its last line shows in the
status when v2v ends with an error. Install steps: docs/obs.md.
"""

import json
import os
import shlex
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.request

try:
    import obspython as obs
except ImportError:  # imported outside OBS (the tests use the Runner): no panel, the rest works
    obs = None

DEFAULTS = {
    "python": "",
    "folder": "",
    "input": "game_window",
    "prompt": "",
    "strength": 0.7,
    "control_port": 8765,
    "obs_port": 4455,
    "obs_password": "",
    "extra": "",
}
HOTKEYS = (("v2v.start", "v2v: Start"), ("v2v.stop", "v2v: Stop"))
LOG_NAME = "v2v_obs.log"
STOP_WAIT_S = 5.0  # after SIGTERM, how long v2v may take to finish before it is killed
HTTP_TIMEOUT_S = 1.0


def build_command(settings, parent_pid):
    """The v2v command line for the panel's `settings` (a dict with the keys of DEFAULTS)."""
    python = settings["python"].strip() or ("python" if sys.platform == "win32" else "python3")
    command = [
        python,
        "-m",
        "v2v",
        "--input",
        settings["input"].strip() or DEFAULTS["input"],
        "--output",
        "obs",
        "--control-port",
        str(int(settings["control_port"])),
        "--obs-port",
        str(int(settings["obs_port"])),
        "--parent-pid",
        str(parent_pid),
        "--strength",
        f"{float(settings['strength']):g}",
    ]
    if settings["prompt"].strip():
        command += ["--prompt", settings["prompt"].strip()]
    return command + shlex.split(settings["extra"], posix=sys.platform != "win32")


def describe_status(body):
    """One line from v2v's GET /status body."""
    latency = body.get("latency_p50_ms")
    return (
        f"running · {body.get('fps', 0.0):.1f} fps · latency {'-' if latency is None else f'{latency:.0f}'} ms"
        f" · prompt {body.get('prompt', '')!r} · strength {body.get('strength', 0.0):g}"
    )


def _last_line(path):
    try:
        with open(path, "rb") as log:
            log.seek(max(0, os.path.getsize(path) - 4096))
            lines = [line.strip() for line in log.read().decode("utf-8", "replace").splitlines() if line.strip()]
    except OSError as e:
        return f"(no log: {e.strerror or e})"
    return lines[-1] if lines else "(no output)"


class Runner:
    """One v2v child process and its control endpoint."""

    def __init__(self, log_path=None):
        self.log_path = log_path or os.path.join(tempfile.gettempdir(), LOG_NAME)
        self.proc = None
        self.port = None
        self.status = "stopped"
        self._lock = threading.Lock()
        self._pending = None  # (prompt, strength) waiting to be sent
        self._sent = None  # the last (prompt, strength) v2v has
        self._sending = False
        self._fetching = False

    @property
    def running(self):
        """Whether the child runs now."""
        return self.proc is not None and self.proc.poll() is None

    def start(self, settings, parent_pid=None):
        """Launch v2v for `settings` (nothing when it already runs)."""
        if self.running:
            return
        command = build_command(settings, parent_pid or os.getpid())
        env = dict(os.environ)
        if settings["obs_password"]:
            env["V2V_OBS_PASSWORD"] = settings["obs_password"]  # not on the command line, where others see it
        flags = getattr(subprocess, "CREATE_NO_WINDOW", 0)
        with open(self.log_path, "wb") as log:
            try:
                self.proc = subprocess.Popen(
                    command,
                    cwd=settings["folder"].strip() or None,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    creationflags=flags,
                )
            except OSError as e:
                self.proc = None
                self.status = f"cannot start {command[0]} ({e.strerror or e}): set the Python of v2v's virtualenv"
                return
        self.port = int(settings["control_port"])
        self._sent = (settings["prompt"].strip(), float(settings["strength"]))
        self.status = f"starting (pid {self.proc.pid}) ..."

    def stop(self):
        """End v2v: SIGTERM (it finishes its outputs), then a kill after STOP_WAIT_S."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.status = "stopped"

    def refresh(self):
        """Update `status` (called by a timer): the process's state, and GET /status in a thread."""
        if self.proc is None:
            return
        code = self.proc.poll()
        if code is not None:
            self.status = f"ended (exit {code}): {_last_line(self.log_path)}"
            self.proc = None
            return
        with self._lock:
            if self._fetching:
                return
            self._fetching = True
        threading.Thread(target=self._fetch, args=(self.proc.pid, self.port), daemon=True).start()

    def _fetch(self, pid, port):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=HTTP_TIMEOUT_S) as answer:
                body = json.loads(answer.read().decode("utf-8"))
            if self.running:
                self.status = describe_status(body)
        except (OSError, ValueError):  # not listening yet (loading the model) or busy: say so, ask again later
            if self.running:
                self.status = f"starting (pid {pid}) ..."
        finally:
            with self._lock:
                self._fetching = False

    def push(self, prompt, strength):
        """Send a new prompt and strength to the running v2v (in a thread; the newest values win)."""
        if not self.running:
            return
        with self._lock:
            self._pending = (prompt, float(strength))
            if self._sending:
                return
            self._sending = True
        threading.Thread(target=self._send, args=(self.port,), daemon=True).start()

    def _send(self, port):
        while True:
            with self._lock:
                values, self._pending = self._pending, None
                if values is None:
                    self._sending = False
                    return
            if values == self._sent:
                continue
            prompt, strength = values
            body = json.dumps({"prompt": prompt, "strength": strength}).encode("utf-8")
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/control",
                data=body,
                method="POST",
                headers={"Content-Type": "application/json"},
            )
            try:
                with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S):
                    self._sent = values
            except urllib.error.HTTPError as e:  # v2v refused the values: it says why
                self.status = f"v2v refused the change: {e.read().decode('utf-8', 'replace')}"
            except OSError as e:
                self.status = f"cannot reach v2v on port {port} ({e})"


# ---- the OBS script ----------------------------------------------------------------------------------
runner = Runner()
_settings = None  # the script's settings (OBS owns them)
_hotkeys: dict[str, int] = {}  # hotkey name -> OBS's hotkey id


def _read(settings):
    values = {}
    for key, default in DEFAULTS.items():
        if isinstance(default, float):
            values[key] = obs.obs_data_get_double(settings, key)
        elif isinstance(default, int):
            values[key] = obs.obs_data_get_int(settings, key)
        else:
            values[key] = obs.obs_data_get_string(settings, key)
    return values


def _show_status():
    if _settings is not None:
        obs.obs_data_set_string(_settings, "status", runner.status)


def start():
    """Start v2v with the panel's settings."""
    if _settings is not None:
        runner.start(_read(_settings))
        _show_status()


def stop():
    """Stop v2v."""
    runner.stop()
    _show_status()


def _tick():
    runner.refresh()
    _show_status()


def _on_event(event):
    if event == obs.OBS_FRONTEND_EVENT_EXIT:
        runner.stop()


def script_description():
    return (
        "<b>v2v</b>: real-time restyling of a game, camera or window, shown in OBS as the source "
        "'V2V Output'. Set the Python of v2v's virtualenv, press Start. Prompt and strength changes "
        "go to the running v2v. See docs/obs.md."
    )


def script_defaults(settings):
    for key, default in DEFAULTS.items():
        if isinstance(default, float):
            obs.obs_data_set_default_double(settings, key, default)
        elif isinstance(default, int):
            obs.obs_data_set_default_int(settings, key, default)
        else:
            obs.obs_data_set_default_string(settings, key, default)
    obs.obs_data_set_default_string(settings, "status", "stopped")


def _describe(prop, text):
    obs.obs_property_set_long_description(prop, text)  # shown as the row's tooltip


def script_properties():
    props = obs.obs_properties_create()
    obs.obs_properties_add_button(props, "start", "Start", lambda props, prop: start() or True)
    obs.obs_properties_add_button(props, "stop", "Stop", lambda props, prop: stop() or True)
    obs.obs_properties_add_text(props, "status", "Status", obs.OBS_TEXT_INFO)
    _describe(
        obs.obs_properties_add_path(props, "python", "Python", obs.OBS_PATH_FILE, "", ""),
        "the python (python.exe) of the virtualenv v2v is installed in",
    )
    _describe(
        obs.obs_properties_add_path(props, "folder", "Folder", obs.OBS_PATH_DIRECTORY, "", ""),
        "optional: where v2v runs (a v2v checkout, when v2v is not installed in that virtualenv)",
    )
    _describe(
        obs.obs_properties_add_text(props, "input", "Input", obs.OBS_TEXT_DEFAULT),
        "game_window, window:TITLE, camera[:N], screen[:N], a video file, pattern",
    )
    obs.obs_properties_add_text(props, "prompt", "Prompt", obs.OBS_TEXT_DEFAULT)
    _describe(
        obs.obs_properties_add_float_slider(props, "strength", "Strength", 0.05, 1.0, 0.05),
        "low keeps the picture's structure, 1 ignores it",
    )
    _describe(
        obs.obs_properties_add_int(props, "control_port", "Control port", 1024, 65535, 1),
        "the port of v2v's control endpoint on 127.0.0.1",
    )
    _describe(
        obs.obs_properties_add_int(props, "obs_port", "WebSocket port", 1, 65535, 1),
        "Tools → WebSocket Server Settings → Server Port",
    )
    _describe(
        obs.obs_properties_add_text(props, "obs_password", "WebSocket password", obs.OBS_TEXT_PASSWORD),
        "Tools → WebSocket Server Settings → Show Connect Info",
    )
    _describe(
        obs.obs_properties_add_text(props, "extra", "More options", obs.OBS_TEXT_DEFAULT),
        "more v2v options, e.g. --model PATH --size 512x320 --obs-styles styles.toml",
    )
    return props


def script_update(settings):
    global _settings
    _settings = settings
    values = _read(settings)
    runner.push(values["prompt"].strip(), values["strength"])


def script_load(settings):
    global _settings
    _settings = settings
    for name, description in HOTKEYS:
        callback = start if name == "v2v.start" else stop
        hotkey = obs.obs_hotkey_register_frontend(name, description, lambda pressed, act=callback: pressed and act())
        saved = obs.obs_data_get_array(settings, name)
        obs.obs_hotkey_load(hotkey, saved)
        obs.obs_data_array_release(saved)
        _hotkeys[name] = hotkey
    obs.obs_frontend_add_event_callback(_on_event)
    obs.timer_add(_tick, 1000)


def script_save(settings):
    for name, hotkey in _hotkeys.items():
        saved = obs.obs_hotkey_save(hotkey)
        obs.obs_data_set_array(settings, name, saved)
        obs.obs_data_array_release(saved)


def script_unload():
    obs.timer_remove(_tick)
    runner.stop()
