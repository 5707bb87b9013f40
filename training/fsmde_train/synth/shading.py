"""Surface appearance of the synthetic world: normals, procedural textures, lighting, sensor effects.

Textures are functions of the 3-D hit point (asphalt grain, lane markings, paving tiles, façade windows,
car glass, foliage), so appearance is consistent across cameras and time, and a network has to read depth
from perspective, texture gradients and occlusion rather than from colour codes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from . import world as W
from .tracer import Primitives

# LiDAR reflectivity multiplier per material (paint and glass differ from their albedo).
REFLECTIVITY = torch.tensor([0.6, 0.5, 0.7, 0.8, 1.2, 0.3, 1.0, 0.6, 0.5, 0.9])


@dataclass(frozen=True)
class Style:
    """Lighting and camera response of a scene; the defaults are the plain world, ``random_style`` varies them."""

    horizon: tuple[float, float, float] = (0.78, 0.83, 0.88)
    zenith: tuple[float, float, float] = (0.30, 0.50, 0.82)
    ambient: float = 0.30
    sun: float = 0.85
    haze_m: float = 350.0  # distance at which 63 % of the radiance is haze
    gain: tuple[float, float] = (0.9, 1.15)  # exposure range per frame
    white: tuple[float, float, float] = (1.0, 1.0, 1.0)  # per-channel sensor gains (white balance)
    noise_std: float = 0.012
    blur_px: float = 0.0  # Gaussian sigma at the rendered resolution (defocus, motion, cheap optics)
    jpeg_quality: int | None = None  # None: the dataset's setting


def random_style(rng: np.random.Generator) -> Style:
    """Overcast to low sun, hazy to clear, dim to bright, warm to cool, clean to noisy/blurred/compressed."""
    overcast = rng.random() < 0.35
    grey = rng.uniform(0.6, 0.9)
    horizon = (grey, grey, grey * rng.uniform(1.0, 1.08)) if overcast else tuple(
        np.clip(np.array([0.78, 0.83, 0.88]) * rng.uniform(0.8, 1.15, 3), 0, 1))
    zenith = tuple(np.clip((np.array(horizon) * 0.85 if overcast else np.array([0.30, 0.50, 0.82]))
                           * rng.uniform(0.75, 1.25, 3), 0, 1))
    g = rng.uniform(0.55, 1.5)
    return Style(horizon=horizon, zenith=zenith, ambient=rng.uniform(0.45, 0.7) if overcast else rng.uniform(0.2, 0.4),
                 sun=rng.uniform(0.0, 0.25) if overcast else rng.uniform(0.6, 1.1),
                 haze_m=float(np.exp(rng.uniform(np.log(120), np.log(1500)))), gain=(g, g * rng.uniform(1.0, 1.3)),
                 white=tuple(rng.uniform(0.88, 1.12, 3)), noise_std=rng.uniform(0.004, 0.03),
                 blur_px=rng.uniform(0.0, 1.0), jpeg_quality=int(rng.integers(55, 96)))


def _hash(ix, iy, iz):
    h = ix * 73856093 ^ iy * 19349663 ^ iz * 83492791
    h = (h ^ (h >> 13)) * 1274126177
    h = h ^ (h >> 16)
    return (h & 0xFFFF).to(torch.float32) / 65535.0


def value_noise(p: torch.Tensor, scale: float) -> torch.Tensor:
    """Smooth 3-D value noise in [0, 1] at points p [N, 3]."""
    q = p * scale
    i = torch.floor(q)
    f = q - i
    f = f * f * (3 - 2 * f)
    i = i.to(torch.int64)
    out = torch.zeros(p.shape[0], dtype=torch.float32, device=p.device)
    for dx in (0, 1):
        wx = f[:, 0] if dx else 1 - f[:, 0]
        for dy in (0, 1):
            wy = f[:, 1] if dy else 1 - f[:, 1]
            for dz in (0, 1):
                wz = f[:, 2] if dz else 1 - f[:, 2]
                out += wx * wy * wz * _hash(i[:, 0] + dx, i[:, 1] + dy, i[:, 2] + dz)
    return out


def _frac(x):
    return x - torch.floor(x)


def surface(world: W.World, prims: Primitives, p: torch.Tensor, ids: torch.Tensor, vehicle_looks: float = 0.0,
            photo: float = 0.0, ray: tuple | None = None):
    """Normals [N, 3], albedo [N, 3] and material [N] at hit points p [N, 3] of primitive ids [N] (>= 0);
    ``vehicle_looks``: the share of vehicles (0..1, ``vehicle_selected``) whose body gets its own random paint and
    pattern (``_vehicle_paint``); ``photo`` > 0: real photographed grain on road, pavement, grass, façades and trunks
    at that contrast (``_photo_detail``), which needs ``ray`` = (unit view directions [N, 3], distances [N] in m,
    the pixel's angle in rad) to filter it."""
    n = torch.zeros_like(p)
    n[:, 2] = 1.0
    albedo = torch.zeros_like(p)
    mat = torch.zeros(len(p), dtype=torch.int64, device=p.device)
    b0, c0, s0 = prims.offsets
    dev = p.device
    t = lambda a: torch.as_tensor(a, dtype=torch.float32, device=dev)  # noqa: E731
    facade_s = torch.zeros(len(p), device=dev)  # horizontal coordinate along a vertical face

    g = ids == 0
    if g.any():
        road = p[g, 1].abs() < world.road_half_width
        for xc, hw in np.asarray(world.cross_streets).reshape(-1, 2):  # cross streets' carriageways
            road |= (p[g, 0] - float(xc)).abs() < float(hw)
        mat[g] = torch.where(road, W.ROAD, W.GRASS)
        albedo[g] = torch.where((mat[g] == W.ROAD)[:, None], t([0.24, 0.24, 0.25]), t([0.30, 0.36, 0.18]))

    bm = (ids >= b0) & (ids < c0)
    if bm.any():
        k = ids[bm] - b0
        bx = prims.boxes[k]
        cs, sn = torch.cos(bx[:, 6]), torch.sin(bx[:, 6])
        rel = p[bm] - bx[:, :3]
        loc = torch.stack([cs * rel[:, 0] + sn * rel[:, 1], -sn * rel[:, 0] + cs * rel[:, 1], rel[:, 2]], 1)
        ratio = loc.abs() / bx[:, 3:6]
        axis = ratio.argmax(1)
        sgn = torch.sign(loc.gather(1, axis[:, None]))[:, 0]
        nl = torch.zeros_like(loc)
        nl[torch.arange(len(nl)), axis] = sgn
        n[bm] = torch.stack([cs * nl[:, 0] - sn * nl[:, 1], sn * nl[:, 0] + cs * nl[:, 1], nl[:, 2]], 1)
        facade_s[bm] = torch.where(axis == 0, loc[:, 1], loc[:, 0])
        mat[bm] = t(world.box_mat)[k].to(torch.int64) if len(world.box_mat) else mat[bm]
        albedo[bm] = t(world.box_color)[k]
        if vehicle_looks:
            albedo[bm] = _vehicle_paint(world, bx, k, loc, mat[bm], albedo[bm], vehicle_looks)

    cm = (ids >= c0) & (ids < s0)
    if cm.any():
        k = ids[cm] - c0
        cy = prims.cyls[k]
        top = (p[cm, 2] - cy[:, 3]).abs() < 1e-3
        radial = torch.cat([(p[cm, :2] - cy[:, :2]) / cy[:, 4:5], torch.zeros_like(cy[:, :1])], 1)
        n[cm] = torch.where(top[:, None], n[cm], radial)
        mat[cm] = t(world.cyl_mat)[k].to(torch.int64)
        albedo[cm] = t(world.cyl_color)[k]

    sm = ids >= s0
    if sm.any():
        k = ids[sm] - s0
        sp = prims.spheres[k]
        n[sm] = (p[sm] - sp[:, :3]) / sp[:, 3:4]
        mat[sm] = t(world.sph_mat)[k].to(torch.int64)
        albedo[sm] = t(world.sph_color)[k]

    albedo = albedo * _texture(world, p, n, mat, facade_s, albedo)
    if photo > 0:
        if ray is None:
            raise ValueError("surface(photo > 0) needs ray = (view directions, distances, pixel angle)")
        albedo = albedo * _photo_detail(world, p, n, mat, facade_s, ids, ray, photo)[:, None]
    return n, albedo.clamp(0, 1), mat


def _photo_detail(world: W.World, p, n, mat, s, ids, ray, contrast: float) -> torch.Tensor:
    """Multiplicative detail [N] from real photographs (``photo_texture``) over three octaves, because real surfaces
    vary at every scale (grain, then stains, patches and weathering): each material's photograph at its true size
    plus the gravel photograph at 4× and 16× that size, weights 1 / 0.7 / 0.5. Gravel on the road (2 m per
    photograph) and pavement tops (1 m), grass on grass and foliage, on façades brick (1.6 m) or, for 40 % of the
    buildings, gravel as rendered concrete (3 m), gravel on roofs and trunks. Factor 1 + c * sum(w (T - 1)), with
    c = contrast x U(0.3, 1) per world (a hash of its seed): some streets clean, others weathered."""
    from . import photo_texture as PT

    d_unit, dist, pixel_angle = ray
    cos = (n * d_unit).sum(1).abs().clamp_min(0.25)  # grazing views: a longer footprint, a coarser level
    foot = dist * pixel_angle / cos
    up = n[:, 2] > 0.5
    along = torch.where(s != 0, s, p[:, 0] + p[:, 1])  # boxes: along the face; cylinders, spheres: a diagonal
    detail = torch.zeros(len(p), device=p.device)
    concrete = _hash(ids, ids * 0 + int(world.seed) % 100003, ids * 0 + 5) < 0.4

    def put(m, name, u, v, tile):
        if m.any():
            d = PT.sample(name, u[m], v[m], tile, foot[m]) - 1.0
            for k, w in ((4.0, 0.7), (16.0, 0.5)):  # coarser octaves, offset so they do not line up
                d = d + w * (PT.sample("gravel", u[m] + 0.37 * k, v[m] + 0.61 * k, tile * k, foot[m]) - 1.0)
            detail[m] = d

    x, y, z = p[:, 0], p[:, 1], p[:, 2]
    put(mat == W.ROAD, "gravel", x, y, 2.0)
    put((mat == W.GRASS) & up, "grass", x, y, 1.5)
    put((mat == W.SIDEWALK) & up, "gravel", x, y, 1.0)
    bld = (mat == W.BUILDING) & ~up
    put(bld & ~concrete, "brick", along, z, 1.6)
    put(bld & concrete, "gravel", along, z, 3.0)
    put((mat == W.SIDEWALK) & ~up, "brick", along, z, 1.6)
    put((mat == W.BUILDING) & up, "gravel", x, y, 3.0)
    put(mat == W.FOLIAGE, "grass", along, z, 0.8)
    put(mat == W.TRUNK, "gravel", along, z, 0.5)
    seed = torch.tensor([int(world.seed) % 100003])
    c = contrast * (0.3 + 0.7 * float(_hash(seed, seed * 0 + 17, seed * 0 + 29)))
    return (1.0 + c * detail).clamp(0.2, 2.5)


def vehicle_selected(world: W.World, k: torch.Tensor, fraction: float) -> torch.Tensor:
    """Which boxes k [M] belong to a vehicle that gets the vehicle looks, for a share ``fraction`` of the vehicles.

    A vehicle's body and glass cabin carry the vehicle's own colour (palette x a random brightness), so a hash of
    that colour and the world's seed is a per-vehicle key: the same draw for body and cabin, in every frame and
    camera, without a vehicle index in the world arrays."""
    if fraction >= 1.0:
        return torch.ones(len(k), dtype=torch.bool, device=k.device)
    q = (torch.as_tensor(world.box_color, dtype=torch.float64, device=k.device)[k] * 8191).round().to(torch.int64)
    return _hash(q[:, 0] + int(world.seed) % 100003, q[:, 1], q[:, 2] * 7 + 11) < fraction


def _vehicle_paint(world: W.World, bx, k, loc, mat, albedo, fraction: float = 1.0):
    """Random paint per vehicle body (domain randomisation of vehicle appearance): half keep their colour, the
    others get any colour; then plain, two-tone (lower/upper half), a stripe along the side, or blotches.

    Only body boxes change (CAR_BODY above the road and taller than a lamp: not wheels, not lamps); the draw is a
    hash of the box index and the world's seed, so a vehicle looks the same in every frame and camera. ``fraction``:
    the share of vehicles repainted (``vehicle_selected``); the others keep the palette's matte paint."""
    body = (mat == W.CAR_BODY) & (bx[:, 2] - bx[:, 5] > 0.1) & (bx[:, 5] > 0.2) & vehicle_selected(world, k, fraction)
    if not body.any():
        return albedo
    kb, seed = k[body], int(world.seed) % 100003
    h = lambda j: _hash(kb, kb * 0 + seed, kb * 0 + j)  # noqa: E731  [M] in [0, 1], one draw per vehicle
    base = torch.where((h(1) < 0.5)[:, None], albedo[body], torch.stack([h(2), h(3), h(4)], 1) ** 2.2)
    second = torch.stack([h(5), h(6), h(7)], 1) ** 2.2
    z = loc[body, 2] / bx[body, 5]  # -1 (bottom) .. 1 (top) of the box
    side = loc[body, 0] / bx[body, 3]  # along the vehicle
    kind = (h(8) * 4).floor()
    two_tone = (kind == 1) & (z < -0.1)
    stripe = (kind == 2) & ((z - (h(9) - 0.5)).abs() < 0.15)
    blotch = (kind == 3) & (value_noise(torch.stack([side * 3, z * 2, kb.float() * 0.37], 1), 1.3) > 0.55)
    out = torch.where((two_tone | stripe | blotch)[:, None], second, base)
    albedo = albedo.clone()
    albedo[body] = out
    return albedo


def gloss(prims: Primitives, ids: torch.Tensor, mat: torch.Tensor, world: W.World | None = None,
          fraction: float = 1.0) -> torch.Tensor:
    """Normal-incidence reflectance at hits of primitive ``ids`` for the clear-coat / glass reflection of
    ``shade``: car paint 0.05 (not the tyres: vehicle boxes standing on the road), glass 0.08, the rest 0 (matte);
    with ``fraction`` < 1 only the vehicles ``vehicle_selected`` picks (``world`` needed) are glossy."""
    f0 = torch.zeros(len(mat), dtype=torch.float32, device=mat.device)
    b0, c0, _ = prims.offsets
    is_box = (ids >= b0) & (ids < c0)
    bottom = torch.zeros(len(ids), device=mat.device)
    bx = prims.boxes[(ids[is_box] - b0)]
    bottom[is_box] = bx[:, 2] - bx[:, 5]
    picked = is_box.clone()
    if fraction < 1.0:
        picked[is_box] = vehicle_selected(world, ids[is_box] - b0, fraction)
    f0[(mat == W.CAR_BODY) & picked & (bottom > 0.1)] = 0.05
    f0[(mat == W.CAR_GLASS) & picked] = 0.08
    return f0


def _texture(world: W.World, p, n, mat, s, base):
    """Multiplicative texture per material (returns [N, 3] factors; may also replace base colours)."""
    fac = torch.ones_like(p)
    coarse = value_noise(p, 0.7)[:, None]
    fine = value_noise(p, 9.0)[:, None]
    fac *= 0.8 + 0.25 * coarse + 0.15 * (fine - 0.5)

    road = mat == W.ROAD
    if road.any():
        x, y = p[road, 0], p[road, 1]
        half = world.n_lanes * world.lane_width / 2
        line = torch.zeros_like(x, dtype=torch.bool)
        for k in range(world.n_lanes + 1):
            yk = -half + k * world.lane_width
            on = (y - yk).abs() < 0.08
            if 0 < k < world.n_lanes:
                on &= _frac(x / 9.0) < 0.35  # dashed between lanes, solid at the edges
            line |= on
        fac[road] *= 1.0 + 0.35 * (value_noise(p[road], 2.5)[:, None] - 0.5)
        fac[road] = torch.where(line[:, None], torch.full_like(fac[road], 3.3), fac[road])

    walk = mat == W.SIDEWALK
    if walk.any():
        top = n[walk, 2] > 0.5
        grout = (_frac(p[walk, 0] / 0.6) < 0.05) | (_frac(p[walk, 1] / 0.6) < 0.05)
        f = torch.where((top & grout)[:, None], 0.6, 1.0) * torch.where(top[:, None], 1.0, 1.25)
        fac[walk] *= f

    bld = mat == W.BUILDING
    if bld.any():
        z = p[bld, 2]
        vertical = n[bld, 2].abs() < 0.5
        fs, fz = _frac(s[bld] / 3.1), _frac(z / 3.3)
        window = vertical & (fs > 0.22) & (fs < 0.78) & (fz > 0.28) & (fz < 0.82) & (z > 3.3)
        shop = vertical & (z < 3.0) & (fs > 0.1) & (fs < 0.9) & (z > 0.4)
        glass = torch.tensor([0.10, 0.13, 0.17], device=p.device) * (0.6 + 0.8 * value_noise(p[bld], 0.3))[:, None]
        f = fac[bld]
        f = torch.where(window[:, None], glass / base[bld].clamp_min(0.05), f)
        f = torch.where(shop[:, None], f * 0.45, f)
        f = torch.where(vertical[:, None], f, f * 0.7)  # roofs
        fac[bld] = f

    glass_m = mat == W.CAR_GLASS
    if glass_m.any():
        side = n[glass_m, 2].abs() < 0.5
        dark = torch.tensor([0.06, 0.07, 0.09], device=p.device) / base[glass_m].clamp_min(0.05)
        fac[glass_m] = torch.where(side[:, None], dark, fac[glass_m])

    leaves = mat == W.FOLIAGE
    if leaves.any():
        fac[leaves] *= 0.55 + 0.9 * value_noise(p[leaves], 4.0)[:, None]
    return fac


def shade(albedo, n, d_unit, dist, sun_dir, style: Style = Style(), lit=None, f0=None):
    """Linear radiance of lit surfaces: ambient sky light + Lambertian sun, then distance haze. ``lit`` [N] bool:
    where the sun reaches the point (None: everywhere, no cast shadows). ``f0`` [N] (``gloss``): a mirror-like
    coat that reflects the sky (or the darker street below the horizon) with Schlick's Fresnel weight, plus the sun's
    highlight where it is lit."""
    sun = torch.as_tensor(sun_dir, dtype=torch.float32, device=n.device)
    lam = (n @ sun).clamp_min(0)[:, None]
    if lit is not None:
        lam = lam * lit[:, None].to(lam.dtype)
    amb = style.ambient + 0.12 * n[:, 2:3]
    rad = albedo * (amb + style.sun * lam)
    if f0 is not None and bool((f0 > 0).any()):
        cos = (-(d_unit * n).sum(1)).clamp(0, 1)
        fres = (f0 + (1 - f0) * (1 - cos) ** 5)[:, None] * (f0 > 0)[:, None]
        r = d_unit + 2 * cos[:, None] * n  # the mirrored view ray
        ground = torch.tensor(style.horizon, dtype=torch.float32, device=n.device) * 0.25
        env = torch.where(r[:, 2:3] > 0, sky(r, style), ground)
        spec = (r @ sun).clamp_min(0)[:, None] ** 200 * (8.0 * float(style.sun))
        if lit is not None:
            spec = spec * lit[:, None].to(spec.dtype)
        rad = rad * (1 - fres) + fres * (env + spec)
    haze = 1 - torch.exp(-dist / style.haze_m)[:, None]
    return rad * (1 - haze) + torch.tensor(style.horizon, dtype=torch.float32, device=n.device) * haze


def sky(d_unit, style: Style = Style()):
    elev = d_unit[:, 2:3].clamp(0, 1)
    w = (elev * 3).clamp(0, 1)
    return (torch.tensor(style.horizon, dtype=torch.float32, device=d_unit.device) * (1 - w)
            + torch.tensor(style.zenith, dtype=torch.float32, device=d_unit.device) * w)


def to_srgb8(rgb_lin: torch.Tensor, gain: float, noise_std: float, gen: torch.Generator,
             white=(1.0, 1.0, 1.0)) -> np.ndarray:
    """Exposure, white balance, read noise, gamma: linear [H, W, 3] -> uint8 sRGB-ish image."""
    x = (rgb_lin * gain * torch.tensor(white, dtype=torch.float32, device=rgb_lin.device)).clamp(0, 1) ** (1 / 2.2)
    x = x + torch.randn(x.shape, generator=gen, device="cpu").to(x.device) * noise_std
    return (x.clamp(0, 1) * 255 + 0.5).to(torch.uint8).cpu().numpy()
