"""Standard ROS 2 messages (rosbags typestore classes) built from nuScenes records.

Only sensor_msgs, geometry_msgs, std_msgs, builtin_interfaces and tf2_msgs types: what ``ros2 bag play``
replays in any ROS 2 install.
"""
from __future__ import annotations

import numpy as np
from rosbags.typesys import Stores, get_typestore

DISTROS = {"humble": Stores.ROS2_HUMBLE, "jazzy": Stores.ROS2_JAZZY, "kilted": Stores.ROS2_KILTED}

# PointCloud2 datatypes (sensor_msgs/PointField constants).
FLOAT32, UINT16 = 7, 4
LIDAR_DTYPE = np.dtype({"names": ["x", "y", "z", "intensity", "ring"],
                        "formats": ["<f4", "<f4", "<f4", "<f4", "<u2"],
                        "offsets": [0, 4, 8, 12, 16], "itemsize": 20})


class MessageFactory:
    """Builds typestore message objects for one ROS 2 distro."""

    def __init__(self, distro: str = "kilted"):
        if distro not in DISTROS:
            raise ValueError(f"unknown distro {distro!r}; expected one of {sorted(DISTROS)}")
        self.store = get_typestore(DISTROS[distro])
        self.T = self.store.types

    def serialize(self, msg, msgtype: str) -> bytes:
        return self.store.serialize_cdr(msg, msgtype)

    def header(self, stamp_us: int, frame_id: str):
        ns = int(stamp_us) * 1000
        return self.T["std_msgs/msg/Header"](
            stamp=self.T["builtin_interfaces/msg/Time"](sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000),
            frame_id=frame_id)

    def compressed_image(self, stamp_us: int, frame_id: str, jpeg: bytes):
        return self.T["sensor_msgs/msg/CompressedImage"](
            header=self.header(stamp_us, frame_id), format="jpeg", data=np.frombuffer(jpeg, dtype=np.uint8))

    def image_rgb8(self, stamp_us: int, frame_id: str, rgb: np.ndarray):
        h, w = rgb.shape[:2]
        return self.T["sensor_msgs/msg/Image"](
            header=self.header(stamp_us, frame_id), height=h, width=w, encoding="rgb8", is_bigendian=0,
            step=w * 3, data=np.ascontiguousarray(rgb, dtype=np.uint8).reshape(-1))

    def camera_info(self, stamp_us: int, frame_id: str, K, width: int, height: int):
        """Rectified pinhole: K as calibrated, R = I, P = [K | 0], zero plumb_bob distortion."""
        K = np.asarray(K, dtype=np.float64).reshape(3, 3)
        P = np.zeros((3, 4))
        P[:, :3] = K
        roi = self.T["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0,
                                                          do_rectify=False)
        return self.T["sensor_msgs/msg/CameraInfo"](
            header=self.header(stamp_us, frame_id), height=height, width=width, distortion_model="plumb_bob",
            d=np.zeros(5), k=K.reshape(-1), r=np.eye(3).reshape(-1), p=P.reshape(-1), binning_x=0, binning_y=0,
            roi=roi)

    def lidar_cloud(self, stamp_us: int, frame_id: str, points: np.ndarray):
        """nuScenes LiDAR points [N, 5] (x, y, z, intensity, ring) -> PointCloud2 with those fields."""
        arr = np.zeros(len(points), dtype=LIDAR_DTYPE)
        for i, name in enumerate(("x", "y", "z", "intensity")):
            arr[name] = points[:, i]
        arr["ring"] = points[:, 4].astype(np.uint16)
        F = self.T["sensor_msgs/msg/PointField"]
        fields = [F(name=n, offset=LIDAR_DTYPE.fields[n][1], datatype=UINT16 if n == "ring" else FLOAT32, count=1)
                  for n in LIDAR_DTYPE.names]
        return self.T["sensor_msgs/msg/PointCloud2"](
            header=self.header(stamp_us, frame_id), height=1, width=len(arr), fields=fields, is_bigendian=False,
            point_step=LIDAR_DTYPE.itemsize, row_step=LIDAR_DTYPE.itemsize * len(arr),
            data=arr.view(np.uint8).reshape(-1), is_dense=True)

    def transform(self, stamp_us: int, parent: str, child: str, translation, rotation_wxyz):
        g = self.T
        w, x, y, z = (float(v) for v in rotation_wxyz)
        tx, ty, tz = (float(v) for v in translation)
        return g["geometry_msgs/msg/TransformStamped"](
            header=self.header(stamp_us, parent), child_frame_id=child,
            transform=g["geometry_msgs/msg/Transform"](
                translation=g["geometry_msgs/msg/Vector3"](x=tx, y=ty, z=tz),
                rotation=g["geometry_msgs/msg/Quaternion"](x=x, y=y, z=z, w=w)))

    def odometry(self, stamp_us: int, parent: str, child: str, translation, rotation_wxyz, velocity=None):
        """nav_msgs/Odometry: the pose of ``child`` in ``parent``; ``velocity`` (linear, in the child frame, m/s)
        when known. Covariances stay 0 (unknown); the angular twist stays 0."""
        g = self.T
        w, x, y, z = (float(v) for v in rotation_wxyz)
        tx, ty, tz = (float(v) for v in translation)
        vx, vy, vz = (float(v) for v in (velocity if velocity is not None else (0.0, 0.0, 0.0)))
        return g["nav_msgs/msg/Odometry"](
            header=self.header(stamp_us, parent), child_frame_id=child,
            pose=g["geometry_msgs/msg/PoseWithCovariance"](
                pose=g["geometry_msgs/msg/Pose"](position=g["geometry_msgs/msg/Point"](x=tx, y=ty, z=tz),
                                                 orientation=g["geometry_msgs/msg/Quaternion"](x=x, y=y, z=z, w=w)),
                covariance=np.zeros(36)),
            twist=g["geometry_msgs/msg/TwistWithCovariance"](
                twist=g["geometry_msgs/msg/Twist"](linear=g["geometry_msgs/msg/Vector3"](x=vx, y=vy, z=vz),
                                                   angular=g["geometry_msgs/msg/Vector3"](x=0.0, y=0.0, z=0.0)),
                covariance=np.zeros(36)))

    def tf(self, transforms):
        return self.T["tf2_msgs/msg/TFMessage"](transforms=list(transforms))
