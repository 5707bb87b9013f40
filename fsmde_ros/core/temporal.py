"""Per-camera state of a temporal model across camera sets (manifest fusion.state 'previous_set'), ROS-free.

The model takes each camera's state from the previous set with a validity flag and returns the new state. The
state is only valid for the next set of the same drive: it is dropped (validity 0, the model then runs as on a
first set) when the set stamp does not move forward (a bag loop, a reordered or repeated set), when more than
``max_gap_s`` passed since the last set (dropped sets, a paused bag), and per camera when that camera's view was
missing in the previous set.
"""
from __future__ import annotations

import numpy as np


class TemporalState:
    def __init__(self, n_views: int, shape, max_gap_s: float):
        if max_gap_s <= 0:
            raise ValueError(f"temporal max gap must be > 0 s, got {max_gap_s}")
        self.shape, self.max_gap_ns = (n_views, *shape), int(max_gap_s * 1e9)
        self.resets = {"first": 0, "backwards": 0, "gap": 0}
        self.reset()

    def reset(self) -> None:
        self.state = np.zeros(self.shape, np.float32)
        self.valid = np.zeros(self.shape[0], np.float32)
        self.last_ns: int | None = None

    def inputs(self, stamp_ns: int) -> tuple[np.ndarray, np.ndarray, str | None]:
        """(prev_state, prev_valid, why it was dropped or None) for the set stamped ``stamp_ns``."""
        why = None
        if self.last_ns is None:
            why = "first"
        elif stamp_ns <= self.last_ns:
            why = "backwards"
        elif stamp_ns - self.last_ns > self.max_gap_ns:
            why = "gap"
        if why is not None:
            self.resets[why] += 1
            self.valid[:] = 0.0
        return self.state, self.valid.copy(), why

    def update(self, state: np.ndarray, stamp_ns: int, present) -> None:
        """Keep the set's output state; ``present`` [N] bool: views that really were in this set."""
        if state.shape != self.shape:
            raise ValueError(f"temporal state of shape {state.shape}, expected {self.shape} (manifest state_shape)")
        self.state = np.array(state, np.float32)
        self.valid = np.asarray(present, np.float32)
        self.last_ns = stamp_ns
