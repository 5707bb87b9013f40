"""The 60 s soak (issue 6): six cameras at 12 Hz through the node process with the shipped model; bench/soak.py
measures RSS, queue depths, latency and drops from outside and checks the targets."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_soak_60s_meets_its_targets(world, world_cfg, tmp_path):
    fig_path = tmp_path / "soak.json"
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "soak.py"), "--duration", "60", "--world", str(world),
                        "--version", world_cfg["version"], "--out", str(tmp_path / "soak"), "--json", str(fig_path)],
                       capture_output=True, text=True, timeout=400)
    print(r.stdout[-3000:], r.stderr[-3000:])
    fig = json.loads(fig_path.read_text())
    assert fig["sets_published"] >= 0.9 * 60 * 12, "the soak publisher kept its 12 Hz"
    assert fig["errors"] == 0 and fig["sets_out"] > 0.1 * fig["sets_published"]
    assert fig["queue_depth_max"] >= 1, "the node reports its sync queue high-water mark"
    assert r.returncode == 0, f"targets missed: {fig['targets']}"
