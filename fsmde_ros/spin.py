"""Process entry helpers shared by the executables: start a node, spin it until Ctrl-C / SIGTERM, exit cleanly.

``ros2 launch`` stops a process with SIGINT, then SIGTERM if it lingers, and a user may press Ctrl-C twice: every
such signal after the first is ignored while the node shuts down, so the process exits 0 with no traceback.
A node whose parameters or model cannot be used logs one line (the constructor does) and exits 2.
"""
from __future__ import annotations

import signal

import rclpy
from rclpy.executors import ExternalShutdownException


def _ignore_further_signals():
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            signal.signal(sig, signal.SIG_IGN)
        except (ValueError, OSError):  # not the main thread
            pass


def spin_until_shutdown(node, on_exit=None) -> int:
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        _ignore_further_signals()
        try:
            if on_exit is not None:
                on_exit()
            node.destroy_node()
        finally:
            rclpy.try_shutdown()
    return 0


def run_node(factory, args=None, expected=(ValueError, RuntimeError)) -> int:
    """``rclpy.init`` -> ``factory()`` -> spin. A constructor failure of the ``expected`` kinds has already been
    logged by the node: exit 2 without a traceback (and without repeating the line)."""
    rclpy.init(args=args)
    try:
        node = factory()
    except expected:
        rclpy.try_shutdown()
        return 2
    except KeyboardInterrupt:  # Ctrl-C during start-up (model warm-up)
        _ignore_further_signals()
        rclpy.try_shutdown()
        return 0
    return spin_until_shutdown(node)
