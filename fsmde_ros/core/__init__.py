"""ROS-free algorithms of the node (numpy/torch only): sync, codecs, preprocessing, geometry, clouds, manifest."""
