"""(One-off, kept so its numbers in RESULTS.md can be re-run from training/:
    python results/selfsup_bag_photo_optimum/oneoff_huber.py RUN WORLD 1.5|0.3|0.05 [noblur|noedge|blur2|blur4])
One-off: the GN alignment's Huber scale (1.5 x median |r| as shipped) vs smaller (closer to L1, as the SSIM + L1
refinement is), on every 4th triple of a world, through the run's student depth."""
import sys, torch
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[2]))  # training/
import fsmde_train.networks.pose_align as pa
factor = float(sys.argv[3])
orig = pa._Level.normal_equations
def ne(self, G, ab, k):
    if k is None:
        H, g, k0 = orig(self, G, ab, None)
        return orig(self, G, ab, k0 / 1.5 * factor)
    return orig(self, G, ab, k)
pa._Level.normal_equations = ne
for o in sys.argv[4:]:
    if o.startswith("blur"):
        nb = int(o[4:]); _b = pa._blur
        def mb(x, nb=nb, _b=_b):
            for _ in range(nb):
                x = _b(x)
            return x
        pa._blur = mb
if "noblur" in sys.argv[4:]:
    pa._blur = lambda x: x
if "noedge" in sys.argv[4:]:
    _init = pa._Level.__init__
    pa._Level.__init__ = lambda self, *a: _init(self, *a[:-1], 0.0)
from fsmde_train.data import SurroundDataset
from fsmde_train.data.sequence import SurroundSequence
from fsmde_train.eval.pose_eval import load_pose_run, motion_errors, summarise, parse_align, student_depth_fn
from fsmde_train.eval.cli import load_run
torch.set_num_threads(1)
run, root = sys.argv[1], sys.argv[2]
net, cfg = load_pose_run(run); student = load_run(run)[0]
d, m = cfg["data"], cfg["model"]
base = SurroundDataset(root, "v1.0-synth", None, tuple(d["input_hw"]), d["canonical_focal_px"], sweeps=True,
                       gt="lidar", cameras=d["cameras"], mean=m["mean"], std=m["std"], cache_dir=d.get("cache_dir"),
                       geometry_inputs=tuple(m.get("geometry_inputs", ())), progress=False)
seq = SurroundSequence(base)
class Sub:
    def __init__(s, seq, idx): s.seq, s.idx = seq, idx; s.base = seq.base; s.triples = [seq.triples[i] for i in idx]
    def __len__(s): return len(s.idx)
    def __getitem__(s, k): return s.seq[s.idx[k]]
sub = Sub(seq, list(range(0, len(seq), 4)))
res = summarise(motion_errors(net, sub, depth_fn=student_depth_fn(student), align=parse_align("4x10,2x8,1x6")), 0.1)
print(sys.argv[4:], factor, run, root, "t_err", round(res["translation_error_pct"]["median"], 2), "len", round(res["length_ratio"]["median"], 3),
      {k: (round(v["translation_error_pct_median"], 1), round(v["length_ratio_median"], 3)) for k, v in res["per_scene"].items()})
