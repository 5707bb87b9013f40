"""Launch the surround depth node (and optionally RViz).

    ros2 launch fsmde_ros surround_depth.launch.py [model:=/path/to/model] [backend:=auto|tensorrt|onnxruntime|torch]
        [image_transport:=compressed|raw] [camera_namespace:=/sensors] [use_sim_time:=true] [rviz:=true]
        [params_file:=/path/params.yaml] [namespace:=perception]

The launch/ROS imports live inside generate_launch_description(), so the argument table below can be read
(and tested) on machines without launch_ros.
"""

CAMERAS = ["CAM_FRONT", "CAM_FRONT_RIGHT", "CAM_BACK_RIGHT", "CAM_BACK", "CAM_BACK_LEFT", "CAM_FRONT_LEFT"]

# (name, default, description); the default "<share>" means the installed share folder of fsmde_ros.
ARGUMENTS = [
    ("model", "", "model folder holding manifest.json; empty = the installed demo model (models/fsmde_student)"),
    ("backend", "auto", "inference backend: auto, tensorrt, onnxruntime or torch"),
    ("device", "auto", "auto (cuda when available), cpu or cuda"),
    ("image_transport", "compressed", "camera input: 'compressed' (<topic>/compressed, CompressedImage) or 'raw' (Image)"),
    ("camera_namespace", "", "namespace in which the CAM_*/image_rect and CAM_*/camera_info topics live "
                             "(e.g. /sensors); empty = the root namespace"),
    ("namespace", "", "namespace of the node and its outputs (CAM_*/depth/..., points)"),
    ("use_sim_time", "false", "use /clock (true when replaying bags with --clock)"),
    ("rviz", "false", "also start RViz with config/surround_depth.rviz"),
    ("params_file", "<share>/config/surround_depth.yaml", "node parameters (YAML, /**: ros__parameters)"),
]
# Node parameters that launch arguments override (argument name -> parameter name).
ARG_TO_PARAM = {"model": "model_path", "backend": "backend", "device": "device", "image_transport": "image_transport",
                "use_sim_time": "use_sim_time"}


def camera_remappings(camera_ns, image_transport_suffixes=("/image_rect", "/image_rect/compressed", "/camera_info")):
    """(relative topic, topic under camera_ns) pairs for every camera input."""
    return [(f"{c}{s}", [camera_ns, f"/{c}{s}"]) for c in CAMERAS for s in image_transport_suffixes]


def generate_launch_description():
    from launch import LaunchDescription
    from launch.actions import DeclareLaunchArgument
    from launch.conditions import IfCondition
    from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
    from launch_ros.actions import Node
    from launch_ros.descriptions import ParameterValue
    from launch_ros.substitutions import FindPackageShare

    share = FindPackageShare("fsmde_ros")
    decls = []
    for name, default, desc in ARGUMENTS:
        if default.startswith("<share>/"):
            default = PathJoinSubstitution([share, *default[len("<share>/"):].split("/")])
        decls.append(DeclareLaunchArgument(name, default_value=default, description=desc))
    lc = LaunchConfiguration
    overrides = {param: lc(arg) for arg, param in ARG_TO_PARAM.items() if arg != "use_sim_time"}
    overrides["use_sim_time"] = ParameterValue(lc("use_sim_time"), value_type=bool)
    node = Node(package="fsmde_ros", executable="surround_depth_node", name="surround_depth",
                namespace=lc("namespace"), output="screen", emulate_tty=True,
                parameters=[lc("params_file"), overrides],
                remappings=camera_remappings(lc("camera_namespace")))
    rviz = Node(package="rviz2", executable="rviz2", name="rviz2", output="screen",
                arguments=["-d", PathJoinSubstitution([share, "config", "surround_depth.rviz"])],
                parameters=[{"use_sim_time": ParameterValue(lc("use_sim_time"), value_type=bool)}],
                condition=IfCondition(lc("rviz")))
    return LaunchDescription([*decls, node, rviz])
