"""The node's health, without ROS: one status level and a sentence that names the cause, with numbers.

Rule: the status is never OK while images arrive and a camera is not served; the message says why (silent
camera, missing CameraInfo, zero stamps, stamps that do not fit the others' within the slop, sets stamped
ahead of the node clock). Levels are diagnostic_msgs/DiagnosticStatus values.
"""
from __future__ import annotations

from dataclasses import dataclass

OK, WARN, ERROR = 0, 1, 2


@dataclass(frozen=True)
class CameraHealth:
    name: str
    image_topic: str
    info_topic: str
    image_age: float | None  # seconds since its last image arrived (None: never)
    info_age: float | None  # seconds since its last CameraInfo arrived (None: never)
    served_age: float | None  # seconds since its depth was last published (None: never)
    zero_stamps: int = 0  # images with header.stamp 0 since the last healthy one
    offset: float | None = None  # stamp offset from the other cameras (s), core.sets.stamp_offsets


@dataclass(frozen=True)
class HealthInput:
    cameras: tuple[CameraHealth, ...]
    since_active: float  # seconds since the subscriptions were created
    stale_timeout: float
    slop: float
    partial_timeout: float
    future_dropped: int = 0  # sets dropped as stamped too far ahead, within the last stale_timeout
    stamp_ahead: float | None = None  # newest image stamp minus the node clock (s)
    set_age: float | None = None  # seconds since a set last formed (None: never)
    error: str | None = None  # the newest processing error, if one came within the last stale_timeout


def _names(cams) -> list[str]:
    return [c.name for c in cams]


def assess(h: HealthInput) -> tuple[int, str]:
    """(level, message); ``code(message)`` gives a stable key for rate-limiting its log line."""
    t, cams = h.stale_timeout, h.cameras
    heard = [c for c in cams if c.image_age is not None]
    if not heard:
        return WARN, f"waiting for {len(cams)} cameras on {[c.image_topic for c in cams]} (nothing received yet)"
    zero = [c for c in cams if c.zero_stamps]
    if zero:
        return ERROR, (f"header.stamp is 0 on {[c.image_topic for c in zero]} "
                       f"({sum(c.zero_stamps for c in zero)} images): they cannot be synchronised or placed in TF "
                       f"and are dropped; the camera driver must stamp its images")
    if all(c.image_age > t for c in heard) and len(heard) == len(cams):
        return WARN, (f"all {len(cams)} cameras silent for {min(c.image_age for c in cams):.1f} s "
                      f"(> stale_input_timeout {t:g} s): nothing to publish")
    live = [c for c in cams if c.image_age is not None and c.image_age <= t]
    silent = [c for c in cams if (c.image_age is None and h.since_active > t) or
              (c.image_age is not None and c.image_age > t)]
    if not live:
        return WARN, (f"all {len(cams)} cameras silent for > {t:g} s (stale_input_timeout): nothing to publish")
    if silent:
        fallback = (f"serving partial sets of the other cameras after {h.partial_timeout:g} s"
                    if h.partial_timeout > 0 else "nothing published until they return")
        return WARN, f"no images for > {t:g} s on {[c.image_topic for c in silent]}: {fallback}"
    no_info = [c for c in live if c.info_age is None]
    if no_info and h.since_active > t:
        return WARN, f"no CameraInfo received on {[c.info_topic for c in no_info]}: those views are skipped"
    unserved = [c for c in live if (c.served_age is None and h.since_active > t) or
                (c.served_age is not None and c.served_age > t)]
    if unserved:
        level = ERROR if len(unserved) == len(live) else WARN
        return level, f"images arrive but {_names(unserved)} not served for > {t:g} s: {_cause(h, unserved)}"
    stale_info = [c for c in live if c.info_age is not None and c.info_age > t]
    if stale_info:
        return WARN, (f"CameraInfo on {[c.info_topic for c in stale_info]} last received > {t:g} s ago: "
                      f"using the newest cached one")
    return OK, "running"


def _cause(h: HealthInput, unserved) -> str:
    if h.future_dropped and h.stamp_ahead is not None:
        return (f"sets are stamped {h.stamp_ahead:.1f} s ahead of the node clock and dropped "
                f"({h.future_dropped} sets; max_future_stamp; use_sim_time without /clock?)")
    if h.error:  # sets form, and fail: the error is the cause, not the stamps
        return f"sets form but processing them fails: {h.error}"
    off = [c for c in h.cameras if c.offset is not None and abs(c.offset) >= h.slop]
    if off:
        parts = ", ".join(f"{c.name} {c.offset * 1000:+.0f} ms" for c in off)
        return f"stamps off the other cameras' by {parts} (sync_slop {h.slop * 1000:.0f} ms)"
    if h.set_age is not None and h.set_age <= h.stale_timeout:
        return (f"sets form (the last {h.set_age:.1f} s ago) but none has finished processing (the first sets can "
                f"take seconds: model load, engine build, CUDA graph capture)")
    parts = ", ".join(f"{c.name} {c.offset * 1000:+.0f} ms" for c in h.cameras if c.offset is not None)
    return f"no set formed; stamp offsets from the others: {parts} (sync_slop {h.slop * 1000:.0f} ms)"


def code(message: str) -> str:
    """A stable key for a status message (its words before the first number or list)."""
    words = []
    for w in message.split():
        if any(ch.isdigit() for ch in w) or w.startswith("["):
            break
        words.append(w)
    return " ".join(words[:4]) or message[:20]
