"""Launch the surround depth node (and optionally RViz).

    ros2 launch fsmde_ros surround_depth.launch.py [model:=/path/to/model] [backend:=auto|tensorrt|onnxruntime|torch]
        [image_transport:=compressed|raw] [camera_namespace:=/sensors] [rig_file:=/path/rig.yaml]
        [use_sim_time:=true] [rviz:=true] [params_file:=/path/params.yaml] [namespace:=perception]

The camera topics to remap come from the rig file (the one source of cameras, topics and frames). The
launch/ROS imports live inside the functions that need them, so the argument table and the remapping helpers
below can be read (and tested) on machines without launch_ros.
"""

# (name, default, type, description); the default "<share>" means the installed share folder of fsmde_ros.
ARGUMENTS = [
    ("model", "", str, "model folder holding manifest.json; empty = the installed demo model (models/fsmde_student)"),
    ("backend", "auto", str, "inference backend: auto, tensorrt, onnxruntime or torch"),
    ("device", "auto", str, "auto (cuda when available), cpu or cuda"),
    ("image_transport", "compressed", str, "camera input: 'compressed' (<topic>/compressed, CompressedImage) or "
                                           "'raw' (Image)"),
    ("rig_file", "", str, "rig YAML naming the cameras, their topics and frames; empty = the installed "
                          "config/nuscenes_rig.yaml"),
    ("camera_namespace", "", str, "namespace in which the rig's camera topics live (e.g. /sensors); empty = the "
                                  "root namespace"),
    ("namespace", "", str, "namespace of the node and its outputs (CAM_*/depth/..., points)"),
    ("use_sim_time", "false", bool, "use /clock (true when replaying bags with --clock)"),
    ("rviz", "false", bool, "also start RViz with config/surround_depth.rviz"),
    ("params_file", "<share>/config/surround_depth.yaml", str, "node parameters (YAML, /**: ros__parameters)"),
]
# Node parameters that launch arguments override (argument name -> parameter name).
ARG_TO_PARAM = {"model": "model_path", "backend": "backend", "device": "device", "image_transport": "image_transport",
                "rig_file": "rig_file", "use_sim_time": "use_sim_time"}


def normalise_namespace(ns: str) -> str:
    """'/sensors/' -> '/sensors', 'sensors' -> '/sensors', '' or '/' -> '' (no double or trailing slashes)."""
    parts = [p for p in str(ns).strip().split("/") if p]
    return "/" + "/".join(parts) if parts else ""


def camera_remappings(rig_cameras, camera_ns: str):
    """(relative topic, absolute topic under camera_ns) for every input of every rig camera: the image topic
    (raw and /compressed) and camera_info. ``rig_cameras``: objects with image_topic / camera_info_topic."""
    ns = normalise_namespace(camera_ns)
    out = []
    for cam in rig_cameras:
        for topic in (cam.image_topic, cam.image_topic + "/compressed", cam.camera_info_topic):
            rel = topic.strip("/")
            out.append((rel, f"{ns}/{rel}"))
    return out


def _node_actions(context, *args, **kwargs):
    from launch.substitutions import LaunchConfiguration
    from launch_ros.actions import Node
    from launch_ros.descriptions import ParameterValue

    from fsmde_ros.core.rig import load_rig
    from fsmde_ros.resources import default_rig_file

    lc = LaunchConfiguration
    types = {name: typ for name, _, typ, _ in ARGUMENTS}
    overrides = {param: ParameterValue(lc(arg), value_type=types[arg]) for arg, param in ARG_TO_PARAM.items()}
    rig_file = lc("rig_file").perform(context) or str(default_rig_file())
    remaps = camera_remappings(load_rig(rig_file).cameras, lc("camera_namespace").perform(context))
    node = Node(package="fsmde_ros", executable="surround_depth_node", name="surround_depth",
                namespace=normalise_namespace(lc("namespace").perform(context)), output="screen", emulate_tty=True,
                parameters=[lc("params_file"), overrides], remappings=remaps)
    return [node]


def generate_launch_description():
    from launch import LaunchDescription
    from launch.actions import DeclareLaunchArgument, OpaqueFunction
    from launch.conditions import IfCondition
    from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
    from launch_ros.actions import Node
    from launch_ros.descriptions import ParameterValue
    from launch_ros.substitutions import FindPackageShare

    share = FindPackageShare("fsmde_ros")
    decls = []
    for name, default, _, desc in ARGUMENTS:
        if default.startswith("<share>/"):
            default = PathJoinSubstitution([share, *default[len("<share>/"):].split("/")])
        decls.append(DeclareLaunchArgument(name, default_value=default, description=desc))
    lc = LaunchConfiguration
    rviz = Node(package="rviz2", executable="rviz2", name="rviz2", output="screen",
                arguments=["-d", PathJoinSubstitution([share, "config", "surround_depth.rviz"])],
                parameters=[{"use_sim_time": ParameterValue(lc("use_sim_time"), value_type=bool)}],
                condition=IfCondition(lc("rviz")))
    return LaunchDescription([*decls, OpaqueFunction(function=_node_actions), rviz])
