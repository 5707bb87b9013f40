"""Process entry helper shared by the executables: spin one node until Ctrl-C / shutdown, then clean up."""
from __future__ import annotations

import rclpy
from rclpy.executors import ExternalShutdownException


def spin_until_shutdown(node, on_exit=None) -> int:
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if on_exit is not None:
            on_exit()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0
