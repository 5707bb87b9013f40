"""Every command of both packages answers --help: argparse formats each help string only then (a bare % in one
broke fsmde-pose-eval --help). The nodes take ROS arguments, not argparse ones, and are left out."""
import importlib
from pathlib import Path

import fsmde_train
import pytest

import fsmde_ros


def _commands(pkg, under=()) -> list[str]:
    root = Path(pkg.__file__).parent
    return sorted(".".join((pkg.__name__, *p.relative_to(root).with_suffix("").parts))
                  for p in root.joinpath(*under).rglob("*.py") if "\ndef main(" in p.read_text())


MODULES = _commands(fsmde_train) + _commands(fsmde_ros, ("tools",))


def test_the_commands_are_found():
    assert {"fsmde_train.engine.trainer", "fsmde_train.eval.pose_eval", "fsmde_train.synth.cli",
            "fsmde_ros.tools.demo", "fsmde_ros.tools.offline", "fsmde_ros.tools.rig_tool"} <= set(MODULES)


@pytest.mark.parametrize("module", MODULES)
def test_help(module, capsys):
    with pytest.raises(SystemExit) as e:
        importlib.import_module(module).main(["--help"])
    assert e.value.code == 0
    assert "usage:" in capsys.readouterr().out
