"""message_filters' ``Subscriber`` / ``ApproximateTimeSynchronizer`` API over rclpy, for pip-only installs.

Every real ROS 2 install has message_filters and the node imports it first; this fallback keeps the same
constructor arguments, ``registerCallback`` and matching semantics (core/sync.py documents them).
"""
from __future__ import annotations

from ..core.sync import ApproximateSync


class SimpleFilter:
    def __init__(self):
        self.callbacks = {}

    def registerCallback(self, cb, *args):  # noqa: N802 (message_filters API)
        conn = len(self.callbacks)
        self.callbacks[conn] = (cb, args)
        return conn

    def signalMessage(self, *msg):  # noqa: N802
        for cb, args in list(self.callbacks.values()):
            cb(*(msg + args))


class Subscriber(SimpleFilter):
    """``Subscriber(node, msg_type, topic, qos_profile=10, **kwargs)`` like message_filters.Subscriber."""

    def __init__(self, node, msg_type, topic, **kwargs):
        super().__init__()
        self.node, self.topic = node, topic
        kwargs.setdefault("qos_profile", 10)
        self.sub = node.create_subscription(msg_type, topic, self.signalMessage, **kwargs)

    def getTopic(self):  # noqa: N802
        return self.topic

    def __getattr__(self, key):
        return getattr(self.sub, key)


class ApproximateTimeSynchronizer(SimpleFilter):
    """``ApproximateTimeSynchronizer(fs, queue_size, slop)``; slop in seconds."""

    def __init__(self, fs, queue_size, slop, allow_headerless=False):
        super().__init__()
        if allow_headerless:
            raise NotImplementedError("allow_headerless is not supported by the fallback synchronizer")
        self.queue_size = queue_size
        self.slop = slop
        self._sync = ApproximateSync(len(fs), queue_size, int(round(slop * 1e9)), self.signalMessage)
        for i, f in enumerate(fs):
            f.registerCallback(self.add, i)

    @property
    def queues(self):
        return self._sync.queues

    def add(self, msg, index):
        st = msg.header.stamp
        self._sync.add(index, st.sec * 1_000_000_000 + st.nanosec, msg)
