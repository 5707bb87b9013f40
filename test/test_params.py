"""Parameter table -> validated frozen config; invalid values are rejected with a reason."""
import dataclasses

import pytest

from fsmde_ros.params import PARAMS, NodeConfig, check_value, make_config


def defaults():
    return {p.name: p.default for p in PARAMS}


def test_defaults_make_a_frozen_config():
    cfg = make_config(defaults())
    assert isinstance(cfg, NodeConfig) and cfg.sync_slop == pytest.approx(0.06) and cfg.cameras == ()  # () = every camera of the rig file
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.sync_slop = 1.0
    assert {f.name for f in dataclasses.fields(NodeConfig)} == {p.name for p in PARAMS}


@pytest.mark.parametrize("name,value,msg", [
    ("backend", "tflite", "must be one of"), ("sync_slop", -0.1, ">= 0"), ("qos_depth", 0, ">= 1"),
    ("cloud_stride", 2.5, "integer"), ("use_tf", "yes", "bool"), ("cameras", [""], "list of names"), ("cameras", "CAM_FRONT", "list of names"),
])
def test_bad_values_are_named(name, value, msg):
    assert msg in check_value(name, value)
    with pytest.raises(ValueError, match=name):
        make_config({**defaults(), name: value})


def test_cross_field_checks():
    with pytest.raises(ValueError, match="cloud_min_range"):
        make_config({**defaults(), "cloud_min_range": 70.0})
    with pytest.raises(ValueError, match="duplicates"):
        make_config({**defaults(), "cameras": ["CAM_FRONT", "CAM_FRONT"]})
