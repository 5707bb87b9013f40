"""ament_python build of fsmde_ros (colcon build) — also pip-installable for the no-ROS-distro path."""
from glob import glob

from setuptools import find_packages, setup

package_name = "fsmde_ros"


def files(pattern):
    return sorted(p for p in glob(pattern, recursive=True) if not p.endswith("/"))


def model_data_files():
    """models/<name>/* -> share/fsmde_ros/models/<name>/ (one entry per model folder)."""
    out = {}
    for f in files("models/*/*"):
        out.setdefault(f.rsplit("/", 1)[0], []).append(f)
    return [(f"share/{package_name}/{d}", fs) for d, fs in sorted(out.items())]


setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(include=["fsmde_ros", "fsmde_ros.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + package_name]),
        ("share/" + package_name, ["package.xml"]),
        ("share/" + package_name + "/launch", files("launch/*.launch.py")),
        ("share/" + package_name + "/config", files("config/*.yaml") + files("config/*.rviz")),
        *model_data_files(),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="fsmde_ros maintainers",
    maintainer_email="fsmde@example.com",
    description="Full surround monocular depth estimation node for ROS 2",
    license="Apache-2.0",
    extras_require={"test": ["pytest"]},
    entry_points={"console_scripts": [
        "surround_depth_node = fsmde_ros.entry:surround_depth_node",
        "surround_depth_lifecycle_node = fsmde_ros.entry:surround_depth_lifecycle_node",
        "fsmde-play = fsmde_ros.tools.bag_player:main",
        "fsmde-record = fsmde_ros.tools.recorder:main",
        "fsmde-offline = fsmde_ros.tools.offline:main",
        "fsmde-demo = fsmde_ros.tools.demo:main",
        "fsmde-rig = fsmde_ros.tools.rig_tool:main",
    ]},
)
