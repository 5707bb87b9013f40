"""fsmde-baginfo: a `ros2 bag info`-like summary of a rosbag2 folder, through rosbags (no ROS needed)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rosbags.highlevel import AnyReader


def summarize(bag) -> str:
    bag = Path(bag)
    size = sum(f.stat().st_size for f in bag.iterdir() if f.is_file())
    with AnyReader([bag]) as r:
        dur = (r.end_time - r.start_time) / 1e9
        lines = [f"bag       {bag}  ({size / 2**20:.1f} MiB, {r.message_count} messages, {dur:.2f} s)"]
        span: dict[str, list[int]] = {}
        for conn, t, _ in r.messages():  # per-topic first/last stamp (reads, never deserializes)
            s = span.setdefault(conn.topic, [t, t])
            s[1] = t
        rows = sorted(r.topics.items())
        width = max(len(t) for t, _ in rows)
        for topic, info in rows:
            first, last = span.get(topic, (0, 0))
            rate = (info.msgcount - 1) / ((last - first) / 1e9) if last > first else 0.0
            lines.append(f"  {topic:<{width}}  {info.msgcount:5d} msgs  {rate:6.1f} Hz  {info.msgtype}")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="fsmde-baginfo", description=__doc__)
    ap.add_argument("bag", nargs="+", help="rosbag2 folder(s)")
    a = ap.parse_args(argv)
    for b in a.bag:
        if not Path(b).is_dir():
            print(f"fsmde-baginfo: error: {b!r} is not a rosbag2 folder", file=sys.stderr)
            return 2
        print(summarize(b))
    return 0


if __name__ == "__main__":
    sys.exit(main())
