"""Console-script entry points that stop cleanly from the first instant.

``ros2 launch`` / Ctrl-C may signal a process while it is still importing torch and rclpy (a second or more);
the stop handlers are installed here, before those imports, so such a stop exits 0 without a traceback.

    python -m fsmde_ros.entry surround_depth_node --ros-args ...
"""
from __future__ import annotations

import importlib
import signal
import sys


def _ignored(signum, frame) -> None:
    pass


def _swallow_stop_signals() -> None:
    """A Python handler that does nothing: what a stop handler leaves behind for the second signal. Not SIG_IGN:
    CPython runs all pending handlers in one pass, so a SIGTERM that arrived with the SIGINT (ros2 launch sends them
    50 ms apart, while the node imports torch) is handled after this one returns, and finding SIG_IGN there it
    raises "OSError: Signal 15 ignored due to race condition" into whatever code runs (a fresh-clone run, 2026-12-04)."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            signal.signal(sig, _ignored)
        except (ValueError, OSError):  # not the main thread
            pass


def _run_pending_handlers() -> None:
    """A Python call: CPython runs pending signal handlers when a function starts."""


def ignore_stop_signals() -> None:
    """While shutting down, a second SIGINT/SIGTERM (``ros2 launch`` sends both) must not interrupt the cleanup.
    SIG_IGN in the end (a Python handler is reset to the default action while the interpreter exits, and rclpy's
    shutdown restores whatever it found); first the no-op handler so that a signal already pending is swallowed.
    Not from inside a signal handler (see ``_swallow_stop_signals``)."""
    _swallow_stop_signals()
    _run_pending_handlers()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            signal.signal(sig, signal.SIG_IGN)
        except (ValueError, OSError):  # not the main thread
            pass


_stopping = False
# Raise KeyboardInterrupt on a stop signal only while the node is being built (model load, warm-up, a TensorRT
# build): during imports an interrupt can surface inside extension modules' init code, which print it; during the
# spin rclpy's own handlers shut the context down. In both those phases the signal only sets the flag.
_raise = False


def stop(signum, frame):
    """SIGINT/SIGTERM -> KeyboardInterrupt once (while starting up); later ones are ignored."""
    global _stopping
    _stopping = True
    _swallow_stop_signals()
    if _raise:
        raise KeyboardInterrupt


def spinning() -> None:
    """From here rclpy's signal handlers shut the context down and the spin returns; raising inside the
    executor's machinery would only leave half-built objects behind (rclpy prints their __del__ errors)."""
    global _raise
    _raise = False


def stopping() -> bool:
    return _stopping


def install_stop_handlers() -> None:
    """rclpy.init later installs its own handlers, which chain to these."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stop)


def building() -> None:
    """From here until ``spinning()`` a stop signal raises KeyboardInterrupt (the node's constructor is aborted)."""
    global _raise
    _raise = True


def _run(module: str) -> int:
    install_stop_handlers()
    main = importlib.import_module(module).main
    if _stopping:  # stopped while importing: nothing was started
        ignore_stop_signals()
        return 0
    return main()


def surround_depth_node() -> int:
    return _run("fsmde_ros.surround_depth_node")


def surround_depth_lifecycle_node() -> int:
    return _run("fsmde_ros.lifecycle_node")


if __name__ == "__main__":
    name = sys.argv.pop(1) if len(sys.argv) > 1 else ""
    if name not in ("surround_depth_node", "surround_depth_lifecycle_node"):
        sys.exit("usage: python -m fsmde_ros.entry surround_depth_node|surround_depth_lifecycle_node [--ros-args ...]")
    sys.exit(globals()[name]())
