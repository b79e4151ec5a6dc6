"""`--parent-pid PID`: end the run when the program that started v2v ends, however it ended.

A program that launches v2v (the OBS script, plugins/obs/v2v_obs.py) stops it when it closes normally;
this watchdog covers the rest: the launcher killed, crashed, or (OBS 29 on SIGTERM) leaving without
unloading its scripts. The run then finishes as after Ctrl-C: the outputs are closed cleanly.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable

POLL_S = 0.5  # how often the parent is looked at


def process_alive(pid: int) -> bool:
    """Whether process `pid` still runs (a zombie counts as ended on Linux)."""
    if sys.platform == "win32":
        return _alive_windows(pid)
    try:
        os.kill(pid, 0)  # signal 0: only the existence and permission checks
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, as another user's process
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except FileNotFoundError:  # no /proc (macOS): os.kill said enough
        return True


def _alive_windows(pid: int) -> bool:
    import ctypes

    synchronize, wait_timeout = 0x00100000, 0x00000102
    kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]  # Windows-only; mypy checks as on Linux
    handle = kernel32.OpenProcess(synchronize, False, pid)
    if not handle:
        return False
    try:
        return kernel32.WaitForSingleObject(handle, 0) == wait_timeout
    finally:
        kernel32.CloseHandle(handle)


def watch_parent(pid: int, stop: threading.Event, say: Callable[[str], None] | None = None) -> threading.Thread:
    """Set `stop` once process `pid` has ended (checked every POLL_S in a daemon thread)."""
    report = say or (lambda text: print(text, file=sys.stderr, flush=True))

    def watch() -> None:
        while not stop.wait(POLL_S):
            if not process_alive(pid):
                report(f"stopping: the process that started v2v (pid {pid}) has ended")
                stop.set()

    thread = threading.Thread(target=watch, name="v2v-parent", daemon=True)
    thread.start()
    return thread
