"""Small stand-ins with the same API and behaviour, used only where the ROS package is not importable."""
