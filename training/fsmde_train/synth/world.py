"""A procedural urban street made of analytic primitives (exact depth by ray casting, see tracer.py).

The street runs along the local x axis; the whole local frame is placed in the nuScenes "global" frame by a
random yaw and offset per scene, so every pose chain (global <- ego <- sensor) is exercised for real.
Everything is drawn from one ``numpy.random.Generator`` seeded per scene: same seed, same world.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from ..geometry import make_pose, yaw_matrix

# Material ids (shading.py gives each a texture and a LiDAR reflectivity).
ROAD, GRASS, SIDEWALK, BUILDING, CAR_BODY, CAR_GLASS, POLE, TRUNK, FOLIAGE, CLUTTER = range(10)
MATERIAL_NAMES = ["road", "grass", "sidewalk", "building", "car_body", "car_glass", "pole", "trunk", "foliage",
                  "clutter"]

CAR_PALETTE = np.array([
    [0.85, 0.85, 0.87], [0.08, 0.08, 0.09], [0.55, 0.56, 0.58], [0.70, 0.08, 0.07], [0.08, 0.20, 0.55],
    [0.85, 0.70, 0.10], [0.12, 0.35, 0.18], [0.45, 0.30, 0.20], [0.95, 0.95, 0.95], [0.30, 0.32, 0.36],
])
FACADE_PALETTE = np.array([
    [0.78, 0.72, 0.62], [0.62, 0.38, 0.30], [0.85, 0.84, 0.80], [0.55, 0.57, 0.60], [0.72, 0.62, 0.45],
    [0.45, 0.47, 0.52], [0.88, 0.80, 0.68], [0.60, 0.52, 0.48],
])
# The "alt" palette (the learned stand-in teacher's world, styled unlike the student's): saturated paint, brick,
# stucco and dark glass instead of the default's muted stone and concrete.
ALT_CAR_PALETTE = np.array([
    [0.10, 0.45, 0.65], [0.75, 0.30, 0.05], [0.35, 0.10, 0.35], [0.20, 0.50, 0.35], [0.65, 0.65, 0.30],
    [0.25, 0.15, 0.10], [0.90, 0.55, 0.55], [0.40, 0.42, 0.20],
])
ALT_FACADE_PALETTE = np.array([
    [0.55, 0.22, 0.16], [0.92, 0.86, 0.55], [0.30, 0.35, 0.45], [0.70, 0.45, 0.35], [0.40, 0.55, 0.50],
    [0.95, 0.70, 0.50], [0.22, 0.22, 0.25], [0.65, 0.75, 0.80],
])
PALETTES = {"default": (CAR_PALETTE, FACADE_PALETTE), "alt": (ALT_CAR_PALETTE, ALT_FACADE_PALETTE)}
LAYOUTS = ("street", "boulevard")


@dataclass
class World:
    """Primitive arrays in the local street frame (metres, radians); colours are linear RGB albedo."""

    boxes: np.ndarray  # [Nb, 7] centre x, y, z, half extents hx, hy, hz, yaw
    box_vel: np.ndarray  # [Nb, 2] velocity (moving cars), zero when static
    box_mat: np.ndarray  # [Nb] material id
    box_color: np.ndarray  # [Nb, 3]
    cyls: np.ndarray  # [Nc, 5] axis x, y, z0, z1, radius (vertical cylinders)
    cyl_mat: np.ndarray
    cyl_color: np.ndarray
    spheres: np.ndarray  # [Ns, 4] centre x, y, z, radius
    sph_mat: np.ndarray
    sph_color: np.ndarray
    road_half_width: float
    lane_width: float
    n_lanes: int
    ego_speed: float  # m/s along +x
    ego_lane_y: float
    ego_wiggle: tuple[float, float]  # lateral amplitude (m), period (s)
    T_global_local: np.ndarray  # 4x4, local street frame -> nuScenes global frame
    sun_dir: np.ndarray  # unit vector towards the sun (local frame)
    seed: int = 0
    extra: dict = field(default_factory=dict)
    ego_accel: float = 0.0  # m/s^2 along the street: the speed changes within a scene (generate_world's speed_change)
    # [K, 2] centre x and half width (m) of each cross street: its carriageway is road, not grass (shading.surface)
    cross_streets: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))

    def boxes_at(self, t: float) -> np.ndarray:
        """Box array with moving boxes advanced to scene time ``t`` (seconds)."""
        b = self.boxes.copy()
        b[:, :2] += self.box_vel * t
        return b

    def ego_pose_local(self, t: float) -> np.ndarray:
        """4x4 ego (base_link) -> local street frame at scene time ``t``; z = 0 as in nuScenes ego_pose."""
        amp, period = self.ego_wiggle
        w = 2 * np.pi / period
        x = self.ego_speed * t + 0.5 * self.ego_accel * t * t
        y = self.ego_lane_y + amp * np.sin(w * t)
        yaw = np.arctan2(amp * w * np.cos(w * t), self.ego_speed + self.ego_accel * t)
        return make_pose(yaw_matrix(yaw), [x, y, 0.0])

    def ego_pose_global(self, t: float) -> np.ndarray:
        return self.T_global_local @ self.ego_pose_local(t)

    def save(self, path, **extra) -> None:
        """Store the primitives (for oracle checks of clouds against the true surfaces); ``extra`` arrays too."""
        np.savez_compressed(
            path, **extra, boxes=self.boxes, box_vel=self.box_vel, box_mat=self.box_mat, box_color=self.box_color,
            cyls=self.cyls, cyl_mat=self.cyl_mat, cyl_color=self.cyl_color, spheres=self.spheres,
            sph_mat=self.sph_mat, sph_color=self.sph_color, T_global_local=self.T_global_local,
            cross_streets=self.cross_streets, scalars=np.array([self.road_half_width, self.lane_width, self.n_lanes, self.ego_speed,
                              self.ego_lane_y, *self.ego_wiggle, self.seed, self.ego_accel]), sun_dir=self.sun_dir)


def load_world(path) -> tuple[World, dict]:
    """Inverse of World.save: the world and any extra arrays stored with it (e.g. ``t0_us``)."""
    with np.load(path) as z:
        d = {k: z[k] for k in z.files}
    sc = d.pop("scalars")
    cross = d.pop("cross_streets", np.zeros((0, 2)))  # worlds saved before cross streets have none
    keys = ("boxes", "box_vel", "box_mat", "box_color", "cyls", "cyl_mat", "cyl_color", "spheres", "sph_mat",
            "sph_color", "T_global_local", "sun_dir")
    w = World(**{k: d.pop(k) for k in keys}, road_half_width=float(sc[0]), lane_width=float(sc[1]),
              n_lanes=int(sc[2]), ego_speed=float(sc[3]), ego_lane_y=float(sc[4]),
              ego_wiggle=(float(sc[5]), float(sc[6])), seed=int(sc[7]),
              ego_accel=float(sc[8]) if len(sc) > 8 else 0.0,  # worlds saved before ego_accel drive at one speed
              cross_streets=cross)
    return w, d


# Body shapes of ``vehicle_types`` (probabilities; "sedan" is the only shape without it): SUVs, pick-ups and vans
# stand taller and higher off the road than a sedan, as most of the vehicles beside real streets do.
VEHICLE_TYPES = {"sedan": 0.45, "suv": 0.3, "pickup": 0.1, "van": 0.15}


class _Builder:
    def __init__(self, car_palette=CAR_PALETTE, car_detail: bool = False, types_rng=None):
        self.car_palette = car_palette
        self.car_detail = car_detail
        self.types_rng = types_rng  # vehicle_types: the body shape per car (its own generator: the street stays)
        self.boxes, self.box_vel, self.box_mat, self.box_color = [], [], [], []
        self.cyls, self.cyl_mat, self.cyl_color = [], [], []
        self.spheres, self.sph_mat, self.sph_color = [], [], []
        # one object id per primitive (a car's boxes, a tree's trunk and crown share one): carve() removes whole objects
        self.box_grp, self.cyl_grp, self.sph_grp = [], [], []
        self._groups, self._open = 0, None

    @contextmanager
    def group(self):
        """Primitives added inside belong to one object (otherwise each primitive is its own)."""
        outer = self._open
        if outer is None:
            self._open = self._new_group()
        try:
            yield
        finally:
            self._open = outer

    def _new_group(self) -> int:
        self._groups += 1
        return self._groups

    def _gid(self) -> int:
        return self._open if self._open is not None else self._new_group()

    def box(self, c, h, yaw, mat, color, vel=(0.0, 0.0)):
        self.boxes.append([*c, *h, yaw])
        self.box_vel.append(list(vel))
        self.box_mat.append(mat)
        self.box_color.append(color)
        self.box_grp.append(self._gid())

    def cyl(self, x, y, z0, z1, r, mat, color):
        self.cyls.append([x, y, z0, z1, r])
        self.cyl_mat.append(mat)
        self.cyl_color.append(color)
        self.cyl_grp.append(self._gid())

    def sphere(self, c, r, mat, color):
        self.spheres.append([*c, r])
        self.sph_mat.append(mat)
        self.sph_color.append(color)
        self.sph_grp.append(self._gid())

    def carve(self, x_lo: float, x_hi: float, y_min: float) -> None:
        """Remove every object with a part whose footprint overlaps x_lo < x < x_hi beyond |y| > y_min (what stood
        where a cross street now runs: façades, parked cars, furniture, pedestrians), whole."""
        gone = set()
        for (x, y, _, hx, hy, _, yaw), g in zip(self.boxes, self.box_grp):
            ex = abs(hx * np.cos(yaw)) + abs(hy * np.sin(yaw))
            ey = abs(hx * np.sin(yaw)) + abs(hy * np.cos(yaw))
            if x + ex > x_lo and x - ex < x_hi and abs(y) + ey > y_min:
                gone.add(g)
        for prims, grps in ((self.cyls, self.cyl_grp), (self.spheres, self.sph_grp)):
            for row, g in zip(prims, grps):
                x, y, r = row[0], row[1], row[-1]
                if x + r > x_lo and x - r < x_hi and abs(y) + r > y_min:
                    gone.add(g)
        for kind in (("boxes", "box_vel", "box_mat", "box_color", "box_grp"), ("cyls", "cyl_mat", "cyl_color", "cyl_grp"),
                     ("spheres", "sph_mat", "sph_color", "sph_grp")):
            keep = [g not in gone for g in getattr(self, kind[-1])]
            for name in kind:
                setattr(self, name, [v for v, k in zip(getattr(self, name), keep) if k])

    def car(self, rng, x, y, yaw, vel=(0.0, 0.0)) -> list[int]:
        """A car: body + glass cabin, both moving together (+ wheels and lamps with ``car_detail``); returns the
        indices of its boxes. With ``types_rng`` the same draws make an SUV, pick-up or van instead of a sedan."""
        with self.group():
            return self._car(rng, x, y, yaw, vel)

    def _car(self, rng, x, y, yaw, vel) -> list[int]:
        first = len(self.boxes)
        length, width = rng.uniform(3.9, 4.9), rng.uniform(1.7, 1.95)
        color = self.car_palette[rng.integers(len(self.car_palette))] * rng.uniform(0.85, 1.1)
        body_h = rng.uniform(0.75, 0.95)
        cab_l, cab_h = length * rng.uniform(0.45, 0.6), rng.uniform(0.45, 0.65)
        shift = rng.uniform(-0.3, 0.1) * length / 2
        kind = "sedan"
        if self.types_rng is not None:
            names = list(VEHICLE_TYPES)
            kind = names[self.types_rng.choice(len(names), p=list(VEHICLE_TYPES.values()))]
        bottom = 0.2
        if kind == "suv":  # taller, higher, a long cabin
            bottom, body_h, cab_l, cab_h, shift = 0.3, body_h * 1.2, length * 0.62, cab_h * 1.15, -0.12 * length / 2
        elif kind == "pickup":  # a long, high body with a tall cab up front (the bed behind it covered)
            length, bottom, body_h = length * 1.15, 0.35, body_h * 1.15
            cab_l, cab_h, shift = length * 0.32, cab_h * 1.2, 0.22 * length / 2
        elif kind == "van":  # one tall box, glass up front
            bottom, body_h = 0.25, body_h * 1.9
            cab_l, cab_h, shift = 0.24, 0.5, (length / 2 - 0.1)  # protrudes 2 cm from the front face
        self.box((x, y, bottom + body_h / 2), (length / 2, width / 2, body_h / 2), yaw, CAR_BODY, color, vel)
        cx, cy = x + shift * np.cos(yaw), y + shift * np.sin(yaw)
        if kind == "van":  # the windscreen: a glass band on the front of the top half
            self.box((cx, cy, bottom + body_h * 0.72), (cab_l / 2, width / 2 * 0.96, body_h * 0.2), yaw, CAR_GLASS,
                     color, vel)
        else:
            self.box((cx, cy, bottom + body_h + cab_h / 2), (cab_l / 2, width / 2 * 0.92, cab_h / 2), yaw,
                     CAR_GLASS, color, vel)
        if self.car_detail:
            self.running_gear(x, y, yaw, length, width, bottom, body_h, vel)
        return list(range(first, len(self.boxes)))

    def running_gear(self, x, y, yaw, length, width, bottom, body_h, vel, lamps=True):
        """Wheels on the ground and lamps on the ends of a vehicle body (no random draws, so a seed's street
        stays the same). Real vehicles touch the road through dark tyres and show lamps front and back; box
        bodies floating above the road were the only vehicles the network had seen (RESULTS.md, real frames)."""
        cs, sn = np.cos(yaw), np.sin(yaw)

        def at(lx, ly, z):
            return x + lx * cs - ly * sn, y + lx * sn + ly * cs, z

        r = bottom + 0.15  # wheel radius (0.35 m on a car): the tyre spans the road to the lower body
        tyre = np.array([0.035, 0.035, 0.04])
        for lx in (length / 2 - 0.55 - r, -(length / 2 - 0.55 - r)):  # one box per axle, a hair wider than the body
            self.box(at(lx, 0.0, r), (0.85 * r, width / 2 + 0.01, r), yaw, CAR_BODY, tyre, vel)
        if not lamps:
            return
        z = bottom + 0.72 * body_h
        for end, col in ((1, np.array([0.92, 0.92, 0.85])), (-1, np.array([0.75, 0.05, 0.04]))):
            for side in (-1, 1):
                self.box(at(end * (length / 2 + 0.01), side * (width / 2 - 0.28), z), (0.02, 0.2, 0.07), yaw,
                         CAR_BODY, col, vel)

    def drop(self, indices) -> None:
        """Remove boxes (e.g. cars a closer car replaces)."""
        gone = set(indices)
        for name in ("boxes", "box_vel", "box_mat", "box_color", "box_grp"):
            setattr(self, name, [v for i, v in enumerate(getattr(self, name)) if i not in gone])


def _arr(x, cols):
    return np.asarray(x, dtype=np.float64).reshape(-1, cols)


def _add_variety(b: _Builder, rng: np.random.Generator, x0: float, x1: float, road_half: float, sidewalk_w: float,
                 lane_w: float, n_lanes: int, ego_lane: float, lane_y, facade_palette=FACADE_PALETTE) -> None:
    """More of what real streets hold (domain randomisation): trucks and buses, pedestrians, barriers, hedges,
    parked rows, an overpass. Drawn from its own generator so the plain world of a seed stays the same."""
    for lane in range(n_lanes):  # large vehicles, never in the ego lane's path
        y = lane_y(lane)
        if abs(y - ego_lane) < 0.1:
            continue
        for _ in range(int(rng.integers(0, 3))):
            length, width, height = rng.uniform(6, 13), rng.uniform(2.3, 2.6), rng.uniform(2.6, 3.8)
            v = rng.uniform(3, 10) * (1 if y < 0 else -1)
            color = b.car_palette[rng.integers(len(b.car_palette))] * rng.uniform(0.8, 1.1)
            xt = rng.uniform(x0 + 20, x1 - 20)
            with b.group():
                b.box((xt, y, 0.35 + height / 2), (length / 2, width / 2, height / 2), 0.0, CAR_BODY, color, vel=(v, 0.0))
                if b.car_detail:
                    b.running_gear(xt, y, 0.0, length, width, 0.35, height, (v, 0.0), lamps=False)
    for side in (-1, 1):
        kerb = road_half + 0.4
        x = x0 + rng.uniform(0, 5)
        while x < x1:  # pedestrians: legs-and-torso cylinder with a head
            y = side * (kerb + rng.uniform(0.3, sidewalk_w - 0.3))
            h = rng.uniform(1.5, 1.9)
            col = np.clip(rng.uniform(0.05, 0.8, 3), 0, 1)
            with b.group():
                b.cyl(x, y, 0.15, 0.15 + h * 0.87, rng.uniform(0.17, 0.25), CLUTTER, col)
                b.sphere((x, y, 0.15 + h * 0.93), 0.11, CLUTTER, np.array([0.55, 0.42, 0.33]) * rng.uniform(0.5, 1.2))
            x += rng.exponential(12.0) + 1.0
        if rng.random() < 0.5:  # a hedge or a row of barriers along the kerb
            xa = rng.uniform(x0, x1 - 30)
            length = rng.uniform(10, 40)
            hedge = rng.random() < 0.5
            hgt = rng.uniform(0.8, 1.6) if hedge else rng.uniform(0.8, 1.1)
            b.box((xa + length / 2, side * (kerb + 0.4), 0.15 + hgt / 2), (length / 2, 0.35 if hedge else 0.12,
                  hgt / 2), 0.0, FOLIAGE if hedge else CLUTTER,
                  np.array([0.16, 0.36, 0.12]) * rng.uniform(0.7, 1.2) if hedge else np.array([0.85, 0.82, 0.78]))
    if rng.random() < 0.3:  # an overpass across the street
        xo = rng.uniform(x0 + 30, x1 - 30)
        z = rng.uniform(5.0, 7.5)
        half_y = road_half + sidewalk_w + 10
        with b.group():
            b.box((xo, 0.0, z + 0.75), (rng.uniform(4, 8), half_y, 0.75), 0.0, BUILDING, facade_palette[rng.integers(8)])
            for side in (-1, 1):
                b.box((xo, side * (road_half + sidewalk_w * 0.6), z / 2), (1.0, 0.5, z / 2), 0.0, BUILDING,
                      np.array([0.6, 0.6, 0.58]))


EGO_HALF_LENGTH = 2.4  # m: the ego vehicle's bumpers from base_link (rear axle) are closer; this keeps clear


def _add_close_traffic(b: _Builder, rng: np.random.Generator, ego_lane: float, speed: float, accel: float,
                       duration: float, ego_lane_cars: list) -> None:
    """A car close ahead and/or behind in the ego lane at the ego's start speed (a queue, stop-and-go traffic);
    the lane's farther cars that the new ones would overlap are removed. With ``accel`` the gap changes by
    accel * t^2 / 2 over the scene, so the gap drawn starts that much wider on the side the ego closes in on."""
    closing = 0.5 * abs(accel) * duration ** 2
    for ahead, p in ((1, 0.65), (-1, 0.45)):
        if rng.random() >= p:
            continue
        gap = rng.uniform(2.0, 10.0) + (closing if ahead * accel > 0 else 0.0)
        length = 4.4  # the drawn car's length is within 3.9-4.9: place by its centre with a nominal half length
        x = ahead * (EGO_HALF_LENGTH + gap + length / 2)
        b.drop([i for xo, idx in ego_lane_cars if abs(xo - x) < length + 2.0 for i in idx])
        ego_lane_cars[:] = _reindex(ego_lane_cars, x, length)  # drop() renumbers the boxes after those dropped
        b.car(rng, x, ego_lane + rng.uniform(-0.25, 0.25), 0.0, vel=(speed, 0.0))


def _reindex(cars: list, x: float, length: float) -> list:
    """The ego-lane cars left after dropping those within ``length`` + 2 m of ``x``, with box indices shifted down
    by the boxes dropped before them."""
    gone = sorted(i for xo, idx in cars if abs(xo - x) < length + 2.0 for i in idx)
    out = []
    for xo, idx in cars:
        if abs(xo - x) < length + 2.0:
            continue
        out.append((xo, [i - sum(1 for g in gone if g < i) for i in idx]))
    return out


def _open_street_yard(b: _Builder, rng: np.random.Generator, x0: float, x1: float, side: int, y0: float,
                      depth: float) -> None:
    """What fills the ``depth`` m between an open street's sidewalk (|y| = ``y0``) and a set-back building from x0 to
    x1: a parking lot (parked cars nose in, p 0.35), or a front yard with a tree and bushes."""
    if depth > 7.0 and rng.random() < 0.35:
        yc = side * (y0 + rng.uniform(3.0, min(depth - 3.0, 12.0)))
        b.box(((x0 + x1) / 2, yc, 0.02), ((x1 - x0) / 2, 3.2, 0.02), 0.0, SIDEWALK,  # the lot's asphalt
              np.array([0.30, 0.30, 0.31]) * rng.uniform(0.8, 1.2))
        x = x0 + rng.uniform(1.0, 2.5)
        while x < x1 - 1.5:
            if rng.random() < 0.75:
                b.car(rng, x, yc, np.pi / 2 + rng.normal(0, 0.05) + (0 if rng.random() < 0.5 else np.pi))
            x += rng.uniform(2.6, 3.2)
        return
    for _ in range(int(rng.integers(0, 3))):
        x, y = rng.uniform(x0, x1), side * (y0 + rng.uniform(1.0, max(depth - 1.0, 1.5)))
        _tree_or_bush(b, rng, x, y, 0.5, 6.0, 3.0, 1.2)


def _tree_or_bush(b: _Builder, rng: np.random.Generator, x: float, y: float, p_tree: float, top_max: float,
                  crown_max: float, bush_max: float) -> None:
    """A tree (trunk + crown) with probability ``p_tree``, else a bush, standing on the ground at (x, y)."""
    if rng.random() < p_tree:
        top, r = rng.uniform(2.0, top_max), rng.uniform(1.2, crown_max)
        with b.group():
            b.cyl(x, y, 0.0, top, rng.uniform(0.15, 0.35), TRUNK, np.array([0.32, 0.24, 0.17]))
            b.sphere((x, y, top + r * 0.8), r, FOLIAGE, np.array([0.18, 0.42, 0.14]) * rng.uniform(0.6, 1.2))
    else:
        r = rng.uniform(0.5, bush_max)
        b.sphere((x, y, r * 0.6), r, FOLIAGE, np.array([0.20, 0.38, 0.12]) * rng.uniform(0.7, 1.2))


def _cross_bands(rng: np.random.Generator, x0: float, x1: float, lane_w: float) -> list[tuple[float, float]]:
    """One or two cross streets (centre x, carriageway half width: 2 or 4 lanes + a parking strip each side), at
    least 45 m apart and 25 m from the street's ends."""
    hw = lambda: float(rng.choice([2, 4]) * lane_w / 2 + 2.2)  # noqa: E731
    first = float(rng.uniform(max(x0 + 25, -40.0), min(x1 - 25, 80.0)))
    bands = [(first, hw())]
    if rng.random() < 0.4:
        second = first + float(rng.choice([-1, 1])) * rng.uniform(45, 70)
        if x0 + 25 < second < x1 - 25:
            bands.append((second, hw()))
    return bands


def _add_cross_street(b: _Builder, rng: np.random.Generator, xc: float, hw: float, y0: float, sidewalk_w: float,
                      lane_w: float, facade_palette) -> None:
    """A street crossing the main one at x = ``xc`` (carriageway half width ``hw``) from its kerbs (|y| = ``y0``) out
    to a building across its end 50-140 m away, on each side: sidewalks, façade rows facing it, parked cars along its
    kerbs, lamp posts and sometimes a car waiting at the crossing. A canyon shows a side camera façades 8-15 m away
    and nothing farther; at a real crossing it looks 50-140 m down the other street (RESULTS.md, the far range)."""
    grey = np.array([0.62, 0.61, 0.58])
    for side in (-1, 1):
        y_end = float(rng.uniform(50, 140))
        for sx in (-1, 1):
            b.box((xc + sx * (hw + sidewalk_w / 2), side * (y0 + y_end) / 2, 0.075),
                  (sidewalk_w / 2, (y_end - y0) / 2, 0.075), 0.0, SIDEWALK, grey * rng.uniform(0.9, 1.1))
            y = y0 + sidewalk_w + rng.uniform(0, 3)
            while y < y_end - 8:  # façades along the cross street, fronts facing it
                length = min(rng.uniform(8, 26), y_end - y)
                if rng.random() < 0.12:  # an alley
                    y += rng.uniform(4, 10)
                    continue
                depth, height = rng.uniform(8, 18), rng.uniform(5, 32)
                x_in = hw + sidewalk_w + rng.uniform(0, 2.5)
                b.box((xc + sx * (x_in + depth / 2), side * (y + length / 2), height / 2),
                      (depth / 2, length / 2, height / 2), 0.0, BUILDING,
                      facade_palette[rng.integers(len(facade_palette))] * rng.uniform(0.85, 1.1))
                y += length + rng.uniform(0, 1.5)
            y = y0 + rng.uniform(6, 12)
            while y < y_end - 6:  # parked cars along its kerbs
                if rng.random() < 0.6:
                    yaw = np.pi / 2 + rng.normal(0, 0.04) + (0 if rng.random() < 0.5 else np.pi)
                    b.car(rng, xc + sx * (hw - 1.1), side * y, yaw)
                y += rng.uniform(5.5, 14)
            y = y0 + sidewalk_w + rng.uniform(0, 10)
            while y < y_end:  # lamp posts
                b.cyl(xc + sx * (hw + 0.4), side * y, 0.15, rng.uniform(5.5, 8.5), rng.uniform(0.08, 0.14), POLE,
                      np.array([0.35, 0.36, 0.38]))
                y += rng.uniform(12, 30)
        height = rng.uniform(6, 30)  # the end of the cross street: a building across it
        b.box((xc, side * (y_end + 6), height / 2), (hw + sidewalk_w + 20, 6, height / 2), 0.0, BUILDING,
              facade_palette[rng.integers(len(facade_palette))] * rng.uniform(0.85, 1.1))
        if rng.random() < 0.5:  # a car waiting at the crossing in its right-hand lane, heading for the main street
            b.car(rng, xc - side * lane_w / 2, side * (y0 + rng.uniform(4.5, 9)), -side * np.pi / 2)


def _add_boulevard(b: _Builder, rng: np.random.Generator, x0: float, x1: float, road_half: float, sidewalk_w: float,
                   median_w: float, park_side: int) -> None:
    """The boulevard layout's extras: a raised grass median with a row of trees and, on ``park_side``, a park
    (trees, bushes and hedges on grass) between the sidewalk and the set-back buildings."""
    b.box(((x0 + x1) / 2, 0.0, 0.1), ((x1 - x0) / 2, median_w / 2 - 0.2, 0.1), 0.0, GRASS,
          np.array([0.28, 0.38, 0.16]) * rng.uniform(0.85, 1.1))
    x = x0 + rng.uniform(0, 6)
    while x < x1:  # median trees: trunk + crown
        top = rng.uniform(2.2, 3.8)
        with b.group():
            b.cyl(x, 0.0, 0.2, top, rng.uniform(0.12, 0.2), TRUNK, np.array([0.30, 0.22, 0.15]))
            r = rng.uniform(1.0, min(2.0, median_w / 2 + 0.6))
            b.sphere((x, 0.0, top + r * 0.8), r, FOLIAGE, np.array([0.16, 0.40, 0.13]) * rng.uniform(0.7, 1.2))
        x += rng.uniform(7, 12)
    y_in, y_out = road_half + sidewalk_w + 1.0, road_half + sidewalk_w + 18.0
    for _ in range(int((x1 - x0) / 6)):  # park trees and bushes at random
        x, y = rng.uniform(x0, x1), park_side * rng.uniform(y_in, y_out)
        _tree_or_bush(b, rng, x, y, 0.6, 5.0, 2.8, 1.1)
    if rng.random() < 0.7:  # a hedge along the park's edge
        b.box(((x0 + x1) / 2, park_side * (y_in + 0.3), 0.6), ((x1 - x0) / 2, 0.4, 0.6), 0.0, FOLIAGE,
              np.array([0.15, 0.33, 0.11]) * rng.uniform(0.8, 1.2))


def generate_world(seed: int, duration: float, varied: bool = False, layout: str = "street",
                   palette: str = "default", speed_change: float = 0.0, car_detail: bool = False,
                   close_traffic: bool = False, open_streets: bool = False, vehicle_types: bool = False,
                   cross_streets: bool = False) -> World:
    """A street long enough for ``duration`` seconds of driving plus margin at both ends; ``varied`` adds the
    object classes of ``_add_variety`` and a wider range of sun elevations (domain randomisation).

    ``layout``: "street" (buildings both sides) or "boulevard" (a tree-lined median splits the carriageways and
    one side is an open park with trees and hedges before a distant row of buildings: the held-out *test* world's
    layout, which no training or validation world uses). ``palette``: "default" or "alt" (other paint and
    façade colours: the learned stand-in teacher's world). The street world of a seed is the same whatever the
    other layouts draw (they use their own generators).

    ``speed_change`` A > 0 (m/s^2): the ego accelerates or brakes at a constant rate drawn from U(-A, A) (its own
    generator, so the street, its objects and the start speed are those of speed_change 0), never below 2.5 m/s by
    the scene's end. At one speed per scene a pose network can tell a training scene's speed from its looks instead
    of reading the flow (measured: RESULTS.md, issue 14).

    ``car_detail``: vehicles get wheels on the road and lamps on their ends (``_Builder.running_gear``).
    ``close_traffic``: the ego lane's traffic also drives close, 2-10 m bumper to bumper ahead and behind (by
    default it keeps >= 12 m centre to centre, so no training image had a vehicle filling the front or back view,
    which real traffic has all the time). Both draw from their own generators (the street of a seed stays).
    ``open_streets``: half the seeds (drawn from their own generator) become an open suburban street instead of an
    urban canyon: the same building draws, but low (3-10 m), set back 4-25 m behind front yards with trees, bushes and
    parking lots of parked cars, some lots empty, and a low street end: long sight lines, wide sky and vehicles
    against far backgrounds, like DDAD's and KITTI's suburbs (``_open_street_yard``).
    ``vehicle_types``: cars are sedans, SUVs, pick-ups or vans (``VEHICLE_TYPES``; own generator, the same draws
    otherwise: every vehicle stands where it stood).
    ``cross_streets``: one or two streets cross the main one (``_add_cross_street``; own generator): whatever stood
    where they run is removed whole (``_Builder.carve``), the rest of the street stays."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    if palette not in PALETTES:
        raise ValueError(f"palette must be one of {sorted(PALETTES)}, got {palette!r}")
    if not (np.isfinite(speed_change) and speed_change >= 0):
        raise ValueError(f"speed_change must be a finite acceleration >= 0 (m/s^2), got {speed_change!r}")
    car_palette, facade_palette = PALETTES[palette]
    rng = np.random.default_rng(seed)
    lay = np.random.default_rng([seed, 21])
    median_w = float(lay.uniform(3.0, 6.0)) if layout == "boulevard" else 0.0
    park_side = int(lay.choice([-1, 1])) if layout == "boulevard" else 0
    n_lanes = int(rng.choice([2, 3, 4]))
    lane_w = float(rng.uniform(3.2, 3.7))
    road_half = n_lanes * lane_w / 2 + 2.2 + median_w / 2  # + a parking strip each side (+ half the median)
    sidewalk_w = float(rng.uniform(2.5, 4.5))
    speed = float(rng.uniform(5.0, 9.0))
    x0, x1 = -70.0, speed * duration + 120.0
    b = _Builder(car_palette, car_detail, np.random.default_rng([seed, 61]) if vehicle_types else None)
    sub = np.random.default_rng([seed, 51])  # open streets: the choice and the yards (the street's draws stay)
    is_open = open_streets and bool(sub.random() < 0.5)
    cross_rng = np.random.default_rng([seed, 71])
    bands = _cross_bands(cross_rng, x0, x1, lane_w) if cross_streets else []

    def lane_y(lane: int) -> float:  # lane centres; the median pushes both carriageways outwards
        y = -n_lanes * lane_w / 2 + lane_w * (lane + 0.5)
        return y + np.sign(y) * median_w / 2

    # Sidewalks (their road-facing sides are the kerbs) and end walls that close the street.
    for side in (-1, 1):
        yc = side * (road_half + sidewalk_w / 2)
        color = np.array([0.62, 0.61, 0.58]) * rng.uniform(0.9, 1.1)
        cuts = [x0, *[e for xc, hw in sorted(bands) for e in (xc - hw, xc + hw)], x1]  # the sidewalk stops at crossings
        for a, e in zip(cuts[::2], cuts[1::2]):
            b.box(((a + e) / 2, yc, 0.075), ((e - a) / 2, sidewalk_w / 2, 0.075), 0.0, SIDEWALK, color)
    wall_half_y = road_half + sidewalk_w + 25
    wall_h = 3.0 if is_open else 9.0  # half height: an open street ends in low buildings and sky
    for xe in (x0 - 6, x1 + 6):
        b.box((xe, 0.0, wall_h), (6.0, wall_half_y, wall_h), 0.0, BUILDING, facade_palette[rng.integers(8)])

    # Building façades: a row per side with random lengths, depths, heights, setbacks and gaps.
    for side in (-1, 1):
        x = x0
        while x < x1:
            length = rng.uniform(8, 26)
            if rng.random() < 0.12:  # an alley
                x += rng.uniform(4, 10)
                continue
            depth, height = rng.uniform(8, 18), rng.uniform(5, 32)
            setback = rng.uniform(0, 2.5)
            if side == park_side:  # the park: buildings far back (the park's trees are added below)
                setback += 18.0
            color = facade_palette[rng.integers(8)] * rng.uniform(0.85, 1.1)
            if is_open:
                height = 3.0 + (height - 5.0) * 7.0 / 27.0  # the same draw, mapped to one or two storeys
                setback += sub.uniform(4.0, 25.0)
                _open_street_yard(b, sub, x, x + length, side, road_half + sidewalk_w, setback)
                if sub.random() < 0.3:  # an empty lot
                    x += length + rng.uniform(0, 1.5)
                    continue
            y_in = road_half + sidewalk_w + setback
            b.box((x + length / 2, side * (y_in + depth / 2), height / 2), (length / 2, depth / 2, height / 2),
                  0.0, BUILDING, color)
            x += length + rng.uniform(0, 1.5)

    # Parked cars in the parking strips, moving cars in the lanes.
    park_y = road_half - 1.1
    for side in (-1, 1):
        x = x0 + rng.uniform(0, 8)
        while x < x1:
            if rng.random() < 0.7:
                b.car(rng, x, side * (park_y + rng.uniform(-0.15, 0.15)), rng.normal(0, 0.04) + (0 if rng.random() < .5 else np.pi))
            x += rng.uniform(5.5, 14)
    ego_lane = lane_y(0)  # the rightmost lane of our carriageway
    ego_lane_cars = []  # (centre x, box indices) of the traffic in our lane
    for lane in range(n_lanes):
        y = lane_y(lane)
        same_dir = y < 0
        in_ego_lane = abs(y - ego_lane) < 0.1
        for _ in range(int(rng.integers(2, 5))):
            v = rng.uniform(3, 11) * (1 if same_dir else -1)
            x = rng.uniform(x0 + 20, x1 - 20)
            if in_ego_lane:  # traffic in our lane keeps its gap: same speed, never closer than 12 m
                v = speed
                x = float(rng.choice([-1, 1])) * rng.uniform(12, 45)
            idx = b.car(rng, x, y, 0.0 if same_dir else np.pi, vel=(v, 0.0))
            if in_ego_lane:
                ego_lane_cars.append((x, idx))
    accel = 0.0
    if speed_change > 0:
        accel = float(np.random.default_rng([seed, 31]).uniform(-speed_change, speed_change))
        accel = max(accel, (2.5 - speed) / max(duration, 1e-6))
    if close_traffic:
        _add_close_traffic(b, np.random.default_rng([seed, 41]), ego_lane, speed, accel, duration, ego_lane_cars)

    # Street furniture on the sidewalks: lamp posts, trees (trunk + crown), bins and bollards.
    for side in (-1, 1):
        kerb = road_half + 0.5
        x = x0 + rng.uniform(0, 10)
        while x < x1:
            kind = rng.random()
            y = side * (kerb + rng.uniform(0, 0.6))
            if kind < 0.35:
                b.cyl(x, y, 0.15, rng.uniform(5.5, 8.5), rng.uniform(0.08, 0.14), POLE, np.array([0.35, 0.36, 0.38]))
            elif kind < 0.75:
                top = rng.uniform(2.0, 3.5)
                with b.group():
                    b.cyl(x, y + side * 0.5, 0.15, top, rng.uniform(0.12, 0.22), TRUNK, np.array([0.33, 0.24, 0.16]))
                    r = rng.uniform(0.9, 1.8)
                    b.sphere((x, y + side * 0.5, top + r * 0.8), r, FOLIAGE,
                             np.array([0.18, 0.42, 0.14]) * rng.uniform(0.7, 1.2))
            else:
                s = rng.uniform(0.3, 0.6)
                b.box((x, y, 0.15 + s), (s * 0.8, s * 0.8, s), rng.uniform(0, np.pi), CLUTTER,
                      np.array([0.2, 0.45, 0.25]) if rng.random() < .5 else np.array([0.55, 0.5, 0.45]))
            x += rng.uniform(6, 16)

    if layout == "boulevard":
        _add_boulevard(b, lay, x0, x1, road_half, sidewalk_w, median_w, park_side)
    if varied:
        _add_variety(b, np.random.default_rng([seed, 11]), x0, x1, road_half, sidewalk_w, lane_w, n_lanes, ego_lane,
                     lane_y, facade_palette)
    for xc, hw in bands:
        b.carve(xc - hw - sidewalk_w, xc + hw + sidewalk_w, n_lanes * lane_w / 2 + median_w / 2)
    for xc, hw in bands:
        _add_cross_street(b, cross_rng, xc, hw, road_half, sidewalk_w, lane_w, facade_palette)
    yaw_g = rng.uniform(-np.pi, np.pi)
    T_gl = make_pose(yaw_matrix(yaw_g), [rng.uniform(200, 1800), rng.uniform(200, 1800), 0.0])
    sun_az, sun_el = rng.uniform(-np.pi, np.pi), rng.uniform(np.radians(25), np.radians(65))
    if varied:
        sun_el = np.random.default_rng([seed, 12]).uniform(np.radians(8), np.radians(70))
    sun = np.array([np.cos(sun_el) * np.cos(sun_az), np.cos(sun_el) * np.sin(sun_az), np.sin(sun_el)])
    return World(
        boxes=_arr(b.boxes, 7), box_vel=_arr(b.box_vel, 2), box_mat=np.array(b.box_mat, dtype=np.int64),
        box_color=_arr(b.box_color, 3), cyls=_arr(b.cyls, 5), cyl_mat=np.array(b.cyl_mat, dtype=np.int64),
        cyl_color=_arr(b.cyl_color, 3), spheres=_arr(b.spheres, 4), sph_mat=np.array(b.sph_mat, dtype=np.int64),
        sph_color=_arr(b.sph_color, 3), road_half_width=road_half, lane_width=lane_w, n_lanes=n_lanes,
        ego_speed=speed, ego_lane_y=ego_lane, ego_wiggle=(float(rng.uniform(0, 0.4)), float(rng.uniform(6, 14))),
        T_global_local=T_gl, sun_dir=sun, seed=seed, ego_accel=accel, cross_streets=_arr(bands, 2),
    )
