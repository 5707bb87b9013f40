"""Does the semantic head find real vehicles? DDAD's 2-D boxes (Car, Truck, Bus/RV, Trailer) against the head's
"vehicle" pixels, per image: the share of box pixels labelled vehicle (boxes hold some background too, so 1 is not
reachable) and the share of pixels outside every box labelled vehicle (false alarms), at the model's input
resolution. An evaluation diagnostic of the real frames (read once per run, nothing tuned on it).

python results/semantic_head/real_vehicles.py runs/semantic_head/SH1/export [...] (from training/)
Writes <export>/../../../results/semantic_head/<name>/real/mosaic_semantic_ddad.png (kept out of git: real images).
"""
import json
import sys
from pathlib import Path

import numpy as np
import torch

from fsmde_train.data.real import load_ddad_scene
from fsmde_train.data.surround import SEMANTIC_CLASSES, scale_K
from fsmde_train.eval.real import load_image
from fsmde_train.export.load import load_exported_student
from fsmde_train.geometry import camera_channels

DDAD = Path(__file__).resolve().parents[3] / ".." / "shared" / "real" / "ddad_scene"
VEHICLE_IDS = {"Car", "Truck", "Bus/RV/Caravan", "Trailer"}
VEH = SEMANTIC_CLASSES.index("vehicle")


def boxes_for(view, root: Path):
    """Vehicle boxes [x0, y0, x1, y1] at the image's resolution, from the image datum's bounding_box_2d file."""
    scene = json.loads(next(root.glob("scene_*.json")).read_text())
    onto = json.loads(next((root / "ontology").glob("*.json")).read_text())
    ids = {i["id"] for i in onto["items"] if i["name"] in VEHICLE_IDS}
    for d in scene["data"]:
        im = d["datum"].get("image")
        if im and (root / im["filename"]) == view.image_path:
            ann = next(v for v in im["annotations"].values() if v.startswith("bounding_box_2d"))
            rows = json.loads((root / ann).read_text())["annotations"]
            return [(a["box"]["x"], a["box"]["y"], a["box"]["x"] + a["box"]["w"], a["box"]["y"] + a["box"]["h"])
                    for a in rows if a["class_id"] in ids]
    raise ValueError(f"{view.image_path}: no image datum in {root}")


def run(export: Path):
    net, man = load_exported_student(export)
    if "semantic_logits" not in net(torch.zeros(1, 3 + len(man["input"].get("geometry", {}).get("channels", ())),
                                                 man["input"]["height"], man["input"]["width"])):
        raise ValueError(f"{export}: the model has no semantic head (model.semantic_classes)")
    hw = (man["input"]["height"], man["input"]["width"])
    mean = np.asarray(man["input"]["mean"], np.float32).reshape(3, 1, 1)
    std = np.asarray(man["input"]["std"], np.float32).reshape(3, 1, 1)
    geometry = tuple(man["input"].get("geometry", {}).get("channels", ()))
    rows, shown = [], []
    for v in load_ddad_scene(DDAD):
        rgb = load_image(v.image_path, hw)
        x = ((rgb.transpose(2, 0, 1).astype(np.float32) * np.float32(man["input"]["scale"]) - mean) / std)[None]
        K = scale_K(v.K, v.size, (hw[1], hw[0]))
        if geometry:
            x = np.concatenate([x, camera_channels(K, v.T_vehicle_cam, hw, float(man["canonical_focal_px"]),
                                                   geometry)[None]], 1)
        with torch.inference_mode():
            cls = net(torch.from_numpy(x))["semantic_logits"].argmax(1)[0].numpy()
        inside = np.zeros(hw, bool)
        sx, sy = hw[1] / v.size[0], hw[0] / v.size[1]
        for x0, y0, x1, y1 in boxes_for(v, DDAD):
            inside[int(y0 * sy):int(np.ceil(y1 * sy)), int(x0 * sx):int(np.ceil(x1 * sx))] = True
        veh = cls == VEH
        rows.append({"camera": v.camera, "frame": v.frame, "box_share": float(inside.mean()),
                     "vehicle_in_boxes": float(veh[inside].mean()) if inside.any() else float("nan"),
                     "vehicle_outside": float(veh[~inside].mean()),
                     "classes": {c: float((cls == i).mean()) for i, c in enumerate(SEMANTIC_CLASSES)}})
        shown.append((rgb, cls, inside))
    return rows, shown


def mosaic(shown, path: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    colours = ListedColormap(["#87ceeb", "#404040", "#9acd32", "#cd853f", "#e41a1c", "#ffd700", "#228b22", "#984ea3"])
    fig, axes = plt.subplots(len(shown), 2, figsize=(8, 1.6 * len(shown)), squeeze=False)
    for (a, b), (rgb, cls, inside) in zip(axes, shown):
        a.imshow(rgb)
        a.contour(inside, levels=[0.5], colors="yellow", linewidths=0.6)
        b.imshow(cls, cmap=colours, vmin=0, vmax=len(SEMANTIC_CLASSES) - 1, interpolation="nearest")
        a.axis("off"), b.axis("off")
    axes[0, 1].set_title(" ".join(f"{c}" for c in SEMANTIC_CLASSES), fontsize=6)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


if __name__ == "__main__":
    print("| run | camera | frame | box share | vehicle in boxes | vehicle outside | road / building / ground / sky |")
    print("|---|---|---|---:|---:|---:|---|")
    means = {}
    for arg in sys.argv[1:]:
        export = Path(arg)
        name = export.parent.name
        rows, shown = run(export)
        for r in rows:
            c = r["classes"]
            print(f"| {name} | {r['camera']} | {r['frame'][-1]} | {r['box_share']:.2f} | {r['vehicle_in_boxes']:.2f} | "
                  f"{r['vehicle_outside']:.3f} | {c['road']:.2f} / {c['building']:.2f} / {c['ground']:.2f} / "
                  f"{c['sky']:.2f} |")
        means[name] = (np.nanmean([r["vehicle_in_boxes"] for r in rows]), np.mean([r["vehicle_outside"] for r in rows]))
        mosaic(shown, Path("results/semantic_head") / name / "real" / "mosaic_semantic_ddad.png")
    for name, (i, o) in means.items():
        print(f"{name}: vehicle in boxes {i:.3f}, outside {o:.3f} (mean over the 9 DDAD images)")
