"""Every fsmde_train command answers --help (argparse formats each help string only then: a bare % in one broke
fsmde-pose-eval --help)."""
import importlib
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "fsmde_train"
MODULES = sorted("fsmde_train." + ".".join(p.relative_to(PKG).with_suffix("").parts)
                 for p in PKG.rglob("*.py") if "\ndef main(" in p.read_text())


def test_the_commands_are_found():
    assert {"fsmde_train.engine.trainer", "fsmde_train.eval.pose_eval", "fsmde_train.synth.cli"} <= set(MODULES)


@pytest.mark.parametrize("module", MODULES)
def test_help(module, capsys):
    with pytest.raises(SystemExit) as e:
        importlib.import_module(module).main(["--help"])
    assert e.value.code == 0
    assert "usage:" in capsys.readouterr().out
