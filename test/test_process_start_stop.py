"""The node as a process, the way `ros2 run` / `ros2 launch` drive it: one line and exit 2 for bad parameters,
exit 0 with no traceback for SIGINT/SIGTERM (twice, as `ros2 launch` sends them) at any moment of its life."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

NOISE = ("Traceback", "RCLError", "Exception", "exception")


def start(model, *params, domain):
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain), PYTHONUNBUFFERED="1", RCUTILS_COLORIZED_OUTPUT="0")
    cmd = [sys.executable, "-m", "fsmde_ros.entry", "surround_depth_node", "--ros-args", "-p", f"model_path:={model}"]
    for p in params:
        cmd += ["-p", p]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)


def wait_for_handlers(proc, timeout=30.0) -> None:
    """Until the process catches SIGTERM (/proc/<pid>/status SigCgt): entry.py has installed its stop handlers.
    Before that the interpreter itself is still starting, and no Python code can handle a signal (a fixed sleep
    raced it on a loaded machine: the signal landed during interpreter start-up, exit -2)."""
    status = Path(f"/proc/{proc.pid}/status")
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            caught = int(next(ln for ln in status.read_text().splitlines() if ln.startswith("SigCgt:")).split()[1], 16)
        except (OSError, StopIteration):
            caught = 0
        if caught & (1 << (signal.SIGTERM - 1)):
            return
        time.sleep(0.005)
    raise AssertionError("the node process never installed its SIGTERM handler")


def wait_for_line(proc, text, timeout=60.0) -> list[str]:
    """Read output lines until one contains ``text`` (the process keeps running)."""
    lines, end = [], time.monotonic() + timeout
    while time.monotonic() < end:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if text in line:
            return lines
    raise AssertionError(f"no line with {text!r} in:\n{''.join(lines)}")


def test_invalid_parameters_one_line_and_exit_2(tiny_model):
    p = start(tiny_model, "cloud_stride:=0", "sync_slop:=1", "model_path:=123", domain=91)
    out, _ = p.communicate(timeout=120)
    assert p.returncode == 2, out
    lines = [ln for ln in out.splitlines() if ln.strip()]
    assert len(lines) == 1, out
    assert "invalid parameters: " in lines[0] and "cloud_stride must be >= 1, got 0" in lines[0]
    assert "model_path must be a string, got 123" in lines[0]
    assert "sync_slop" not in lines[0], "an integer for a float parameter is accepted"


def test_start_says_what_it_waits_for_without_stale_warnings(tiny_model):
    p = start(tiny_model, "sync_slop:=1", "cloud_max_range:=100", domain=92)
    try:
        lines = wait_for_line(p, "active: waiting for 6 cameras on ['CAM_FRONT/image_rect/compressed'")
        time.sleep(1.0)  # inside stale_input_timeout (2 s): nothing to warn about yet
    finally:
        p.send_signal(signal.SIGINT)
        out, _ = p.communicate(timeout=60)
    text = "".join(lines) + out
    assert p.returncode == 0, text
    assert "[WARN]" not in text and not any(n in text for n in NOISE), text


RACE = """
import os, signal
from fsmde_ros import entry
entry.install_stop_handlers()
both = {signal.SIGINT, signal.SIGTERM}
signal.pthread_sigmask(signal.SIG_BLOCK, both)
os.kill(os.getpid(), signal.SIGINT)
os.kill(os.getpid(), signal.SIGTERM)
signal.pthread_sigmask(signal.SIG_UNBLOCK, both)  # both arrive before either's Python handler runs
print("stopping", entry.stopping(), sum(range(1000)))
entry.ignore_stop_signals()
print("then ignored", signal.getsignal(signal.SIGTERM) is signal.SIG_IGN, signal.getsignal(signal.SIGINT) is signal.SIG_IGN)
"""


def test_a_second_signal_pending_behind_the_first_is_swallowed_without_a_traceback():
    """SIGINT then SIGTERM 50 ms apart while the node imports torch (ros2 launch; a failed fresh-clone run,
    2026-12-04): both can be pending before the first's handler runs. Made deterministic here by blocking both
    and unblocking at once. With SIG_IGN as the "ignore" the second one raised "OSError: Signal 15 ignored due to
    race condition" inside the import (CPython finds its handler gone)."""
    p = subprocess.run([sys.executable, "-c", RACE], capture_output=True, text=True, timeout=60)
    out = p.stdout + p.stderr
    assert p.returncode == 0 and "stopping True 499500" in out and "then ignored True True" in out, out
    assert not any(n in out for n in NOISE) and "race condition" not in out, out


@pytest.mark.parametrize("when", ["importing", "loading the model", "running"])
@pytest.mark.parametrize("sigs", [(signal.SIGINT, signal.SIGINT), (signal.SIGTERM, signal.SIGTERM),
                                  (signal.SIGINT, signal.SIGTERM)], ids=["int-int", "term-term", "int-term"])
def test_stop_signals_exit_0_without_traceback(tiny_model, when, sigs):
    domain = 93 + hash((when, sigs)) % 50
    p = start(tiny_model, domain=domain)
    lines = []
    if when == "importing":  # the stop handlers are installed and the heavy imports (torch, rclpy) are running
        wait_for_handlers(p)
        time.sleep(0.1)
    elif when == "loading the model":
        lines = wait_for_line(p, "model folder:")
    else:
        lines = wait_for_line(p, "active:")
    for s in sigs:  # ros2 launch: SIGINT, then SIGTERM if the process lingers; users press Ctrl-C twice
        p.send_signal(s)
        time.sleep(0.05)
    out, _ = p.communicate(timeout=60)
    text = "".join(lines) + out
    assert p.returncode == 0, f"exit {p.returncode}:\n{text}"
    assert not any(n in text for n in NOISE), text
