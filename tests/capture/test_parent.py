"""capture/parent.py: `--parent-pid` ends the run once the process that started v2v is gone."""

import subprocess
import sys
import threading
import time

from capture.parent import process_alive, watch_parent


def test_the_run_stops_when_the_parent_ends():
    parent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    stop, said = threading.Event(), []
    watcher = watch_parent(parent.pid, stop, said.append)
    assert process_alive(parent.pid) and not stop.wait(0.7)
    parent.kill()
    parent.wait()
    assert stop.wait(5) and not process_alive(parent.pid)
    watcher.join(2)
    assert said == [f"stopping: the process that started v2v (pid {parent.pid}) has ended"]


def test_a_zombie_counts_as_ended():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 10
    while process_alive(child.pid):  # it exits, and stays a zombie until waited for
        assert time.monotonic() < deadline, "an exited child still counts as alive"
        time.sleep(0.05)
    assert child.poll() == 0
