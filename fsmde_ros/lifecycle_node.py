"""Managed (lifecycle) variant of the surround depth node.

configure: load the rig, verify and load the model, build/load the backend (TensorRT engine included) and
warm it up — the slow part, done before the system goes live; activate: create subscriptions, publishers and
the worker; deactivate: stop them; cleanup: release the backend. A failed configure stays unconfigured with
the reason logged.
"""
from __future__ import annotations

from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn

from .spin import run_node
from .surround_depth_node import SurroundDepthLogic


class SurroundDepthLifecycleNode(SurroundDepthLogic, LifecycleNode):
    def __init__(self, node_name: str = "surround_depth", **kwargs):
        LifecycleNode.__init__(self, node_name, **kwargs)
        self._declare()

    def on_configure(self, state):
        return TransitionCallbackReturn.SUCCESS if self.configure() else TransitionCallbackReturn.FAILURE

    def on_activate(self, state):
        self.activate()
        return TransitionCallbackReturn.SUCCESS

    def on_deactivate(self, state):
        self.deactivate()
        return TransitionCallbackReturn.SUCCESS

    def on_cleanup(self, state):
        self.cleanup()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state):
        if self._running:
            self.deactivate()
        self.cleanup()
        return TransitionCallbackReturn.SUCCESS


def main(args=None):
    return run_node(SurroundDepthLifecycleNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
