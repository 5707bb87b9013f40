"""The dataset loader meets bad files: the camera set holding one is skipped and reported, nothing else lost."""
import shutil

import pytest

from fsmde_train import CAMERAS
from fsmde_train.data import SurroundDataset

from .conftest import TINY


@pytest.fixture
def broken_world(tiny_world, nusc, tmp_path):
    """A copy of the tiny world with a truncated JPEG, a missing JPEG and a corrupt .pcd.bin in key frames."""
    root = tmp_path / "world"
    shutil.copytree(tiny_world, root)
    samples = [s for s in nusc.sample]
    front = nusc.get("sample_data", samples[0]["data"]["CAM_FRONT"])
    back = nusc.get("sample_data", samples[1]["data"]["CAM_BACK"])
    lidar = nusc.get("sample_data", samples[2]["data"]["LIDAR_TOP"])
    data = (root / front["filename"]).read_bytes()
    (root / front["filename"]).write_bytes(data[: len(data) // 2])
    (root / back["filename"]).unlink()
    (root / lidar["filename"]).write_bytes(b"\x00" * 33)
    return root, {"front": front["token"], "back": back["token"], "lidar": samples[2]["data"]["CAM_FRONT"]}


def test_bad_files_skip_their_set_and_are_reported(broken_world, nusc, capsys):
    root, bad = broken_world
    ds = SurroundDataset(root, TINY["version"], input_hw=(32, 64), sweeps=False, gt="lidar", progress=False)
    n_keyframes = len(nusc.sample)
    assert len(ds) == n_keyframes - 3 and len(ds.skipped) == 3, "exactly the three broken sets are left out"
    reasons = {s["tokens"][CAMERAS.index("CAM_FRONT")]: s["reason"] for s in ds.skipped}
    front_sets = {s["reason"] for s in ds.skipped if bad["front"] in s["tokens"]}
    assert any("corrupt or truncated JPEG" in r for r in front_sets)
    assert any("is missing" in r for s in ds.skipped if bad["back"] in s["tokens"] for r in [s["reason"]])
    assert "ValueError" in reasons[bad["lidar"]], "a .pcd.bin that is not N x 5 float32 is reported"
    assert "skipped 3 of" in capsys.readouterr().out
    b = ds[len(ds) - 1]
    assert b["image"].shape == (6, 3, 32, 64) and (b["depth"] > 0).any(), "the healthy sets load as usual"


def test_dense_gt_is_used_where_the_lidar_file_is_bad(broken_world):
    root, _ = broken_world
    ds = SurroundDataset(root, TINY["version"], input_hw=(32, 64), sweeps=False, gt="dense", progress=False)
    assert len(ds.skipped) == 2, "with dense GT the LiDAR sweep is not read; only the two image faults remain"


def test_nothing_usable_is_an_error(tiny_world, tmp_path):
    root = tmp_path / "w"
    shutil.copytree(tiny_world, root)
    for p in (root / "samples").rglob("*.jpg"):
        p.write_bytes(b"junk")
    with pytest.raises(ValueError, match="no usable camera set"):
        SurroundDataset(root, TINY["version"], input_hw=(32, 64), progress=False)
