"""fsmde-nusc2bag: convert nuScenes-format scenes into ROS 2 bags that `ros2 bag play` replays."""
from __future__ import annotations

import argparse
import sys
import time

from .nusc2bag import ConversionError, ConvertConfig, Topics, convert


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="fsmde-nusc2bag", description=__doc__)
    ap.add_argument("--dataroot", required=True, help="nuScenes-format root (holds <version>/, samples/, sweeps/)")
    ap.add_argument("--version", default="v1.0-mini", help="table folder, e.g. v1.0-mini, v1.0-trainval, v1.0-synth")
    ap.add_argument("--out", required=True, help="output folder; one bag folder per scene is written inside")
    ap.add_argument("--scenes", nargs="*", help="scene names (default: every scene)")
    ap.add_argument("--storage", choices=["mcap", "sqlite3"], default="mcap")
    ap.add_argument("--image-mode", choices=["compressed", "raw"], default="compressed",
                    help="compressed: JPEG bytes as stored (CompressedImage); raw: decoded rgb8 Image")
    ap.add_argument("--distro", choices=["humble", "jazzy", "kilted"], default="kilted",
                    help="message definitions (type hashes) to record")
    ap.add_argument("--no-lidar", action="store_true", help="leave out LIDAR_TOP")
    ap.add_argument("--no-tf", action="store_true", help="leave out /tf and /tf_static (/odom stays)")
    ap.add_argument("--no-odometry", action="store_true",
                    help="leave out the ego motion (/tf map -> base_link and /odom), keep /tf_static")
    ap.add_argument("--verify-images", action="store_true", help="decode every JPEG, skip those that fail")
    ap.add_argument("--overwrite", action="store_true", help="replace existing bags")
    ap.add_argument("--image-topic", default=Topics.image, help="template, {channel} is replaced")
    ap.add_argument("--camera-info-topic", default=Topics.camera_info)
    ap.add_argument("--lidar-topic", default=Topics.lidar)
    ap.add_argument("--frame", default=Topics.frame, help="frame_id template for sensors")
    a = ap.parse_args(argv)
    cfg = ConvertConfig(image_mode=a.image_mode, storage=a.storage, distro=a.distro, lidar=not a.no_lidar, odometry=not a.no_odometry,
                        tf=not a.no_tf, verify_images=a.verify_images, overwrite=a.overwrite,
                        topics=Topics(image=a.image_topic, camera_info=a.camera_info_topic, lidar=a.lidar_topic,
                                      frame=a.frame))
    t0 = time.time()
    try:
        reports = convert(a.dataroot, a.version, a.out, a.scenes, cfg)
    except ConversionError as e:
        print(f"fsmde-nusc2bag: error: {e}", file=sys.stderr)
        return 2
    for r in reports:
        total = sum(r.counts.values())
        print(f"{r.scene}: {total} messages over {(r.end_us - r.start_us) / 1e6:.1f} s -> {r.bag}"
              + (f" ({len(r.skipped)} skipped, see {r.scene}.report.json)" if r.skipped else ""))
    print(f"converted {len(reports)} scene(s) in {time.time() - t0:.1f} s")
    return 1 if any(r.skipped for r in reports) else 0


if __name__ == "__main__":
    sys.exit(main())
