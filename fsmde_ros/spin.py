"""Process entry helpers shared by the executables: start a node, spin it until Ctrl-C / SIGTERM, exit cleanly.

``ros2 launch`` stops a process with SIGINT, then SIGTERM if it lingers, and a user may press Ctrl-C twice: every
such signal after the first is ignored while the node shuts down, so the process exits 0 with no traceback.
A node whose parameters or model cannot be used logs one line (the constructor does) and exits 2.
"""
from __future__ import annotations

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor

from .entry import ignore_stop_signals as _ignore_further_signals
from .entry import building, install_stop_handlers, spinning, stopping


def spin_until_shutdown(node, on_exit=None, executor=None) -> int:
    spinning()
    try:
        if not stopping():
            rclpy.spin(node, executor=executor)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:  # noqa: BLE001 - a callback that ran as the signal shut the context down (RCLError)
        if rclpy.ok() and not stopping():
            raise
    finally:
        _ignore_further_signals()
        try:
            if on_exit is not None:
                on_exit()
            node.destroy_node()
        except Exception:  # noqa: BLE001 - destroying entities of a context a signal already shut down
            if rclpy.ok() and not stopping():
                raise
        finally:
            rclpy.try_shutdown()
            _ignore_further_signals()  # rclpy's shutdown puts its own handlers back
    return 0


def run_node(factory, args=None, expected=(ValueError, RuntimeError)) -> int:
    """``rclpy.init`` -> ``factory()`` -> spin. A constructor failure of the ``expected`` kinds has already been
    logged by the node: exit 2 without a traceback (and without repeating the line). A stop signal at any point,
    start-up (model load, warm-up) included, exits 0."""
    install_stop_handlers()  # before rclpy.init installs its own (which chain to these)
    if stopping():
        return 0
    building()
    executor = node = None
    try:
        rclpy.init(args=args)
        # the executor exists before the node: a signal that lands right after start-up must find it built
        executor = SingleThreadedExecutor()
        node = factory()
        # Leave the raising phase inside this try: a signal pending as the constructor returns is run by CPython
        # when the next function starts, which outside the try was spin_until_shutdown's first line, before its
        # own try (a KeyboardInterrupt traceback and then death by the SIGTERM behind it; CI, 2026-12-07).
        spinning()
    except KeyboardInterrupt:
        _ignore_further_signals()
        if node is not None:
            try:
                node.destroy_node()
            except Exception:  # noqa: BLE001 - entities of a context the signal already shut down
                pass
        rclpy.try_shutdown()
        _ignore_further_signals()  # rclpy's shutdown puts its own handlers back
        return 0
    except Exception as e:  # noqa: BLE001
        stopped = stopping() or not rclpy.ok()  # a signal shut the context down while the node was being built
        if not stopped and not isinstance(e, expected):
            raise
        _ignore_further_signals()
        rclpy.try_shutdown()
        _ignore_further_signals()
        return 0 if stopped else 2
    return spin_until_shutdown(node, executor=executor)
