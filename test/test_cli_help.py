"""Every fsmde_ros tool answers --help (argparse formats each help string only then). The nodes take ROS
arguments, not argparse ones, and are left out."""
import importlib
from pathlib import Path

import pytest

TOOLS = Path(__file__).resolve().parents[1] / "fsmde_ros" / "tools"
MODULES = sorted(f"fsmde_ros.tools.{p.stem}" for p in TOOLS.glob("*.py") if "\ndef main(" in p.read_text())


def test_the_tools_are_found():
    assert {"fsmde_ros.tools.demo", "fsmde_ros.tools.offline", "fsmde_ros.tools.rig_tool"} <= set(MODULES)


@pytest.mark.parametrize("module", MODULES)
def test_help(module, capsys):
    with pytest.raises(SystemExit) as e:
        importlib.import_module(module).main(["--help"])
    assert e.value.code == 0
    assert "usage:" in capsys.readouterr().out
