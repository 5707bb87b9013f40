"""Ray-casting kernels against hand-computed intersections."""
import numpy as np
import pytest
import torch

from fsmde_train.geometry import make_pose
from fsmde_train.synth.tracer import (camera_rays, intersect_boxes, intersect_cylinders, intersect_ground,
                                      intersect_spheres, make_primitives, render_camera, trace_rays)


def t(a):
    return torch.tensor(a, dtype=torch.float32)


def test_box_slab_hits_near_face_and_respects_yaw():
    o, d = t([[0.0, 0.0, 1.0]]), t([[1.0, 0.0, 0.0]])
    box = t([[10.0, 0.0, 1.0, 2.0, 1.0, 1.0, 0.0]])
    assert intersect_boxes(o, d, box).item() == pytest.approx(8.0, abs=1e-5)
    rotated = t([[10.0, 0.0, 1.0, 2.0, 1.0, 1.0, np.pi / 2]])  # now 1 m half-extent along x
    assert intersect_boxes(o, d, rotated).item() == pytest.approx(9.0, abs=1e-5)
    miss = t([[10.0, 5.0, 1.0, 2.0, 1.0, 1.0, 0.0]])
    assert torch.isinf(intersect_boxes(o, d, miss)).all()
    behind = t([[-10.0, 0.0, 1.0, 2.0, 1.0, 1.0, 0.0]])
    assert torch.isinf(intersect_boxes(o, d, behind)).all()


def test_cylinder_side_and_cap_and_sphere_and_ground():
    cyl = t([[5.0, 0.0, 0.0, 3.0, 0.5]])
    assert intersect_cylinders(t([[0.0, 0.0, 1.0]]), t([[1.0, 0.0, 0.0]]), cyl).item() == pytest.approx(4.5, abs=1e-5)
    assert intersect_cylinders(t([[5.0, 0.1, 10.0]]), t([[0.0, 0.0, -1.0]]), cyl).item() == pytest.approx(7.0, abs=1e-5)
    assert torch.isinf(intersect_cylinders(t([[0.0, 0.0, 4.0]]), t([[1.0, 0.0, 0.0]]), cyl)).all()  # above it
    sph = t([[0.0, 10.0, 2.0, 1.5]])
    assert intersect_spheres(t([[0.0, 0.0, 2.0]]), t([[0.0, 1.0, 0.0]]), sph).item() == pytest.approx(8.5, abs=1e-5)
    d = t([[1.0, 0.0, -0.5]])
    assert intersect_ground(t([[0.0, 0.0, 2.0]]), d).item() == pytest.approx(4.0, abs=1e-5)


def test_trace_rays_returns_nearest_primitive_id():
    prims = make_primitives(np.array([[10.0, 0, 1, 1, 1, 1, 0], [5.0, 0, 1, 1, 1, 1, 0]]),
                            np.zeros((0, 5)), np.zeros((0, 4)))
    tt, ids = trace_rays(t([[0.0, 0.0, 1.0]]), t([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, -1.0]]), prims)
    assert ids.tolist() == [2, -1, 0]  # second box (nearer), sky, ground
    assert tt[0].item() == pytest.approx(4.0)


def test_camera_depth_of_a_wall_is_its_distance_everywhere():
    """A fronto-parallel wall at 12 m: z-depth is 12 in every pixel (rays have z_cam = 1)."""
    K = np.array([[100.0, 0, 80], [0, 100.0, 45], [0, 0, 1]])
    # optical frame: z forward; put the camera at height 50 looking along +x (world), wall at x = 12.
    R = np.array([[0, 0, 1], [-1, 0, 0], [0, -1, 0]], dtype=float)
    prims = make_primitives(np.array([[12.5, 0, 50, 0.5, 100, 100, 0]]), np.zeros((0, 5)), np.zeros((0, 4)))
    depth, ids, _, _ = render_camera(make_pose(R, [0, 0, 50]), K, 160, 90, prims)
    assert (ids == 1).all()
    assert torch.allclose(depth, torch.full_like(depth, 12.0), atol=1e-4)
    rays = camera_rays(K, 160, 90)
    assert rays[45, 80].tolist() == [0.0, 0.0, 1.0]
