"""Evaluation reports: markdown tables (per camera, ablation rows) and plots (per-camera bars, error vs distance)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .metrics import METRIC_NAMES

HEAD = {"abs_rel": "AbsRel", "sq_rel": "SqRel", "rmse": "RMSE", "rmse_log": "RMSE log", "d1": "δ<1.25",
        "d2": "δ<1.25²", "d3": "δ<1.25³"}


def _fmt(k, v):
    return "–" if v is None else f"{v:.3f}" if k in ("abs_rel", "sq_rel", "rmse_log", "d1", "d2", "d3") else f"{v:.2f}"


def cameras_of(ev: dict) -> list[str]:
    """The evaluated rig's cameras, ring order (as the per-camera tables hold them)."""
    return list(ev["nuscenes" if "nuscenes" in ev else "ddad"]["scale_aware"]["per_camera"])


def per_camera_table(ev: dict, protocol="nuscenes", scaling="scale_aware") -> str:
    r = ev[protocol][scaling]
    lines = ["| camera | " + " | ".join(HEAD[k] for k in METRIC_NAMES) + " |",
             "|---|" + "---:|" * len(METRIC_NAMES)]
    for c in cameras_of(ev):
        lines.append(f"| {c} | " + " | ".join(_fmt(k, r["per_camera"][c].get(k)) for k in METRIC_NAMES) + " |")
    lines.append("| **mean** | " + " | ".join(f"**{_fmt(k, r['mean'][k])}**" for k in METRIC_NAMES) + " |")
    return "\n".join(lines)


def rows_table(rows: dict[str, dict], protocol="nuscenes", scaling="scale_aware", cross_view=True) -> str:
    """One row per named evaluation: mean metrics (+ cross-view disagreement)."""
    cols = [HEAD[k] for k in METRIC_NAMES] + (["cross-view ↓"] if cross_view else [])
    lines = ["| run | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
    for name, ev in rows.items():
        m = ev[protocol][scaling]["mean"]
        cells = [_fmt(k, m[k]) for k in METRIC_NAMES] + ([f"{ev['cross_view']['pred']:.3f}"] if cross_view else [])
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def report_markdown(ev: dict, title: str) -> str:
    parts = [f"# {title}", "", f"{ev['n_sets']} camera sets, GT: {ev['gt']}.", ""]
    if ev.get("invalid"):
        iv = ev["invalid"]
        parts += [f"Invalid output (NaN): {100 * iv['sky_nan']:.1f} % of sky pixels, {100 * iv['surface_nan']:.2f} % of "
                  f"pixels with a surface (dense GT).", ""]
    for p, cap in (("nuscenes", "80 m"), ("ddad", "200 m")):
        for s in ("scale_aware", "median_scaled"):
            parts += [f"## {p} protocol ({cap}), {s.replace('_', '-')}", "", per_camera_table(ev, p, s), ""]
    cv, cams = ev["cross_view"], cameras_of(ev)
    n = len(cams)
    floor = f" (GT itself: {cv['gt']:.3f}, the occlusion/resampling floor)" if cv.get("gt") is not None else ""
    parts += ["## Cross-view disagreement", "",
              f"Mean relative depth disagreement where adjacent views overlap: {cv['pred']:.3f}{floor}.", "",
              "| pair | " + " | ".join(f"{cams[i]}→{cams[(i + 1) % n]}" for i in range(n)) + " |",
              "|---|" + "---:|" * n, "| disagreement | " + " | ".join(f"{x:.3f}" for x in cv["per_pair"]) + " |", ""]
    return "\n".join(parts)


def group_seeds(rows: dict[str, dict]) -> dict[str, list[dict]]:
    """Rows named ``<row>/<seed>`` grouped by ``<row>`` (a name without "/" is a group of one)."""
    groups: dict[str, list[dict]] = {}
    for name, ev in rows.items():
        groups.setdefault(name.rsplit("/", 1)[0], []).append(ev)
    return groups


def plots(ev: dict, out_dir, rows: dict[str, dict] | None = None) -> list[Path]:
    """per_camera.png (AbsRel per camera, one bar group per row) and error_vs_distance.png. Rows named
    ``<row>/<seed>`` are drawn once per row: the seeds' mean, with the std (bars) or the min-max band (lines)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    groups = group_seeds(rows or {"model": ev})
    fig, ax = plt.subplots(figsize=(9, 3.5))
    w = 0.8 / len(groups)
    cams = cameras_of(ev)
    for i, (name, evs) in enumerate(groups.items()):
        vals = np.array([[r["nuscenes"]["scale_aware"]["per_camera"][c].get("abs_rel", np.nan) for c in cams]
                         for r in evs], dtype=float)
        err = vals.std(0, ddof=1) if len(evs) > 1 else None
        ax.bar(np.arange(len(cams)) + i * w, vals.mean(0), w, yerr=err, capsize=2,
               label=name if len(evs) == 1 else f"{name} ({len(evs)} seeds)")
    ax.set_xticks(np.arange(len(cams)) + 0.4 - w / 2, [c.replace("CAM_", "") for c in cams], fontsize=8)
    ax.set_ylabel("AbsRel (scale-aware, 80 m)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    paths = [out / "per_camera.png"]
    fig.savefig(paths[0], dpi=110)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, evs in groups.items():
        d = evs[0]["abs_rel_by_distance"]
        mids = [(a + b) / 2 for a, b in zip(d["bins"], d["bins"][1:])]
        v = np.array([[np.nan if x is None else x for x in r["abs_rel_by_distance"]["abs_rel"]] for r in evs],
                     dtype=float)
        (line,) = ax.plot(mids, v.mean(0), marker="o", label=name)
        if len(evs) > 1:
            ax.fill_between(mids, v.min(0), v.max(0), color=line.get_color(), alpha=0.15)
    ax.set_xscale("log")
    ax.set_xlabel("GT distance (m, bin centre)")
    ax.set_ylabel("AbsRel" + (" (mean over seeds, band: min-max)" if any(len(g) > 1 for g in groups.values())
                              else ""))
    ax.legend(fontsize=7)
    fig.tight_layout()
    paths.append(out / "error_vs_distance.png")
    fig.savefig(paths[1], dpi=110)
    plt.close(fig)
    return paths


def distance_table(rows: dict[str, dict]) -> str:
    """AbsRel by GT distance (scale-aware), one line per row; ``<row>/<seed>`` rows averaged over their seeds. Where
    the metrics have it (written since 2026-12-07), each cell also gives the median pred/GT (``0.071 / ×0.98``)."""
    groups = group_seeds(rows)
    b = next(iter(rows.values()))["abs_rel_by_distance"]["bins"]
    heads = [f"{lo:g}–{hi:g} m" for lo, hi in zip(b, b[1:])]
    lines = ["| row | " + " | ".join(heads) + " |", "|---|" + "---:|" * len(heads)]

    def mean_of(evs, key):
        if not all(key in r["abs_rel_by_distance"] for r in evs):
            return None
        return np.array([[np.nan if x is None else x for x in r["abs_rel_by_distance"][key]] for r in evs],
                        dtype=float).mean(0)

    for name, evs in groups.items():
        a, q = mean_of(evs, "abs_rel"), mean_of(evs, "median_ratio")
        cells = ["–" if np.isnan(x) else f"{x:.3f}" + ("" if q is None or np.isnan(q[i]) else f" / ×{q[i]:.2f}")
                 for i, x in enumerate(a)]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def seeds_table(rows: dict[str, dict], protocol="nuscenes", scaling="scale_aware",
                metrics=("abs_rel", "sq_rel", "rmse", "d1")) -> str:
    """Rows named ``<row>/<seed>`` grouped by ``<row>``: mean ± std over seeds (sample std, n - 1) of the chosen
    metrics and the cross-view disagreement, with the number of seeds."""
    groups = group_seeds(rows)
    cols = [HEAD[k] for k in metrics] + ["cross-view ↓", "seeds"]
    lines = ["| row | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]

    def cell(vals):
        vals = np.asarray(vals, dtype=float)
        return f"{vals.mean():.3f} ± {vals.std(ddof=1):.3f}" if len(vals) > 1 else f"{vals.mean():.3f}"

    for row, evs in groups.items():
        cells = [cell([ev[protocol][scaling]["mean"][k] for ev in evs]) for k in metrics]
        cells += [cell([ev["cross_view"]["pred"] for ev in evs]), str(len(evs))]
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
