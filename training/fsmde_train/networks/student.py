"""The lightweight student: a ResNet-style encoder, a U-Net decoder and a metric depth-bins head.

Shapes (B = batch of views; a surround batch [B, N_cam, 3, H, W] is flattened to [B * N_cam, 3, H, W]):

- input  ``image``  float32 [B, 3 + G, H, W]: RGB normalised with the manifest's mean/std, then the G camera-aware
  channels of ``geometry_inputs`` (fsmde_train.geometry.camera_channels; none by default); H, W multiples of 32
- ``centers``  [B, K]        metric bin centres in metres, increasing, in (min_depth, max_depth)   (per image)
- ``logits``   [B, K, H/s, W/s]  per-pixel bin logits (s = ``output_stride``, 2 or 4); ``probs`` their softmax
- ``depth``    [B, 1, H, W]  Σ_k p_k c_k, bilinearly upsampled, metres at the canonical focal length
- ``features`` [B, C_dec, H/s, W/s]  decoder features (view-relational KD; not exported)
- with ``cross_view`` the batch is whole camera sets in rig order ([B, N_cam] flattened, N_cam = ``n_cam``): the
  bottleneck features of each view attend to its two ring neighbours' (networks/fusion.py)
- ``valid_logit`` [B, 1, H, W]  with ``validity_head``: logit of "this pixel has a depth" (sky and other
  pixels without a surface are invalid); the exported model writes NaN where it is < 0 (REP-118's invalid).
  With ``validity_input_skip`` the head reads [decoder features, input avg-pooled to H/s, W/s]
- ``semantic_logits`` [B, S, H, W]  with ``semantic_classes`` S > 0: per-pixel class logits (data/surround.py
  SEMANTIC_CLASSES), an auxiliary training output from the decoder features (not exported)

The bin-centre head follows AdaBins: widths = softmax(MLP(pooled bottleneck)) * (max - min), centres at
the middle of each cumulative interval, so centres are ordered and stay inside the depth range. With
``bin_space="log"`` the widths split log(max / min) instead (an untrained head has log-spaced centres, the
spacing near and far is relative), and ``bin_width_floor`` f gives every bin at least f / K of the range, so
centres can never stack (the collapse issue 12 measured: 26 of 32 centres near 3.5 m).
No torchvision: the encoder is defined here, width selectable (``base_width``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from .fusion import CrossViewAttention, TemporalFusion, check_whole_sets


@dataclass(frozen=True)
class StudentConfig:
    base_width: int = 32  # channels of the first stage; stages use 1, 2, 4, 8, 8 x base_width
    blocks: tuple[int, ...] = (1, 2, 2, 2)  # residual blocks in the stride 4, 8, 16, 32 stages
    n_bins: int = 64
    min_depth: float = 0.5
    max_depth: float = 100.0
    decoder_width: int = 64
    bin_space: str = "linear"  # "linear" (AdaBins, metres) or "log" (widths split log(max/min))
    bin_width_floor: float = 0.0  # in [0, 1): every bin gets at least this / n_bins of the range
    output_stride: int = 2  # resolution of the bin logits/probabilities: 2 or 4 (4 halves the FLOPs; BENCHMARKS.md)
    validity_head: bool = False  # a sky/validity logit beside the bins (trained from dense GT's sky = 0)
    # the validity head also reads the input itself (RGB + geometry channels, average-pooled to the decoder's
    # stride) beside the decoder features: where training makes the shared features colour-blind (random
    # convolutions), the head still sees the pixel's colour and ray (results/validity_skip/PLAN.md; it did not help)
    validity_input_skip: bool = False
    # an auxiliary semantic head on the decoder features (0 = none): what the pixel is (sky, road, ground, building,
    # vehicle, pole, foliage, clutter), trained from the synthetic world's material maps (results/semantic_head)
    semantic_classes: int = 0
    # camera-aware input channels after RGB (names of fsmde_train.geometry.GEOMETRY_INPUTS), from K and extrinsics
    geometry_inputs: tuple[str, ...] = ()
    # cross-view attention between ring-adjacent views at the bottleneck (networks/fusion.py): the batch must then
    # be whole sets of n_cam views in rig order, as the trainer and the node give it
    cross_view: bool = False
    n_cam: int = 6
    cross_view_heads: int = 4
    # temporal fusion of the previous set's bottleneck per camera (networks/fusion.py): forward takes
    # (image, prev_state, prev_valid) and returns ``state`` for the next set; the node keeps it between sets
    temporal: bool = False
    # input normalisation (x / 255 - mean) / std: the one definition; the dataset and the exported manifest read it
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)

    @property
    def in_channels(self) -> int:
        return 3 + len(self.geometry_inputs)


def _conv_bn(cin, cout, stride=1, k=3):
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


class _Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = _conv_bn(cin, cout, stride)
        self.c2 = nn.Sequential(nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout))
        self.skip = (nn.Identity() if stride == 1 and cin == cout else
                     nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)))

    def forward(self, x):
        return F.relu(self.c2(self.c1(x)) + self.skip(x))


class Encoder(nn.Module):
    def __init__(self, w: int, blocks, in_channels: int = 3):
        super().__init__()
        self.stem = _conv_bn(in_channels, w, stride=2)  # /2
        chans = [w, 2 * w, 4 * w, 8 * w, 8 * w]
        self.stages = nn.ModuleList()
        cin = w
        for i, n in enumerate(blocks):
            layers = [_Block(cin, chans[i + 1], 2)] + [_Block(chans[i + 1], chans[i + 1], 1) for _ in range(n - 1)]
            self.stages.append(nn.Sequential(*layers))
            cin = chans[i + 1]
        self.channels = chans

    def forward(self, x):
        feats = [self.stem(x)]
        for s in self.stages:
            feats.append(s(feats[-1]))
        return feats  # strides 2, 4, 8, 16, 32


class Decoder(nn.Module):
    """FPN-style top-down path from stride 32 to ``output_stride`` (encoder features finer than it are unused)."""

    def __init__(self, enc_channels, width, output_stride: int = 2):
        super().__init__()
        if output_stride not in (2, 4):
            raise ValueError(f"output_stride must be 2 or 4, got {output_stride}")
        self.first = {2: 0, 4: 1}[output_stride]  # index of the finest feature used (strides 2, 4, 8, ...)
        used = enc_channels[self.first:]
        self.lateral = nn.ModuleList([nn.Conv2d(c, width, 1) for c in used])
        self.fuse = nn.ModuleList([_conv_bn(width, width) for _ in used[:-1]])

    def forward(self, feats):
        feats = feats[self.first:]
        x = self.lateral[-1](feats[-1])
        for i in range(len(feats) - 2, -1, -1):
            x = F.interpolate(x, size=feats[i].shape[-2:], mode="bilinear", align_corners=False)
            x = self.fuse[i](x + self.lateral[i](feats[i]))
        return x  # stride output_stride


class SurroundDepthStudent(nn.Module):
    def __init__(self, cfg: StudentConfig = StudentConfig()):
        super().__init__()
        if cfg.bin_space not in ("linear", "log"):
            raise ValueError(f"model.bin_space must be 'linear' or 'log', got {cfg.bin_space!r}")
        if not 0.0 <= cfg.bin_width_floor < 1.0:
            raise ValueError(f"model.bin_width_floor must be in [0, 1), got {cfg.bin_width_floor}")
        self.cfg = cfg
        self.encoder = Encoder(cfg.base_width, cfg.blocks, cfg.in_channels)
        self.decoder = Decoder(self.encoder.channels, cfg.decoder_width, cfg.output_stride)
        bott = self.encoder.channels[-1]
        self.cross_view = CrossViewAttention(bott, cfg.n_cam, cfg.cross_view_heads) if cfg.cross_view else None
        self.temporal = TemporalFusion(bott) if cfg.temporal else None
        self.bin_mlp = nn.Sequential(nn.Linear(bott, 256), nn.ReLU(inplace=True), nn.Linear(256, cfg.n_bins))
        self.prob_head = nn.Sequential(_conv_bn(cfg.decoder_width, cfg.decoder_width),
                                       nn.Conv2d(cfg.decoder_width, cfg.n_bins, 1))
        if cfg.validity_input_skip and not cfg.validity_head:
            raise ValueError("model.validity_input_skip needs model.validity_head")
        v_in = cfg.decoder_width + (cfg.in_channels if cfg.validity_input_skip else 0)
        self.valid_head = (nn.Sequential(_conv_bn(v_in, cfg.decoder_width // 2),
                                         nn.Conv2d(cfg.decoder_width // 2, 1, 1)) if cfg.validity_head else None)
        if cfg.semantic_classes < 0:
            raise ValueError(f"model.semantic_classes must be >= 0, got {cfg.semantic_classes}")
        self.semantic_head = (nn.Sequential(_conv_bn(cfg.decoder_width, cfg.decoder_width),
                                            nn.Conv2d(cfg.decoder_width, cfg.semantic_classes, 1))
                              if cfg.semantic_classes else None)

    def bin_centers(self, bottleneck: torch.Tensor) -> torch.Tensor:
        c = self.cfg
        widths = torch.softmax(self.bin_mlp(bottleneck.mean((2, 3))), dim=1)
        if c.bin_width_floor:
            widths = c.bin_width_floor / c.n_bins + (1 - c.bin_width_floor) * widths
        if c.bin_space == "log":
            lo, hi = math.log(c.min_depth), math.log(c.max_depth)
            edges = lo + torch.cumsum(widths * (hi - lo), dim=1)
            return torch.exp(edges - widths * (hi - lo) / 2)
        widths = widths * (c.max_depth - c.min_depth)
        edges = c.min_depth + torch.cumsum(widths, dim=1)
        return edges - widths / 2

    def _encode(self, image: torch.Tensor) -> list[torch.Tensor]:
        feats = self.encoder(image)
        if self.cross_view is not None:
            if not (torch.jit.is_tracing() or torch.compiler.is_compiling()):
                check_whole_sets(image.shape[0], self.cfg.n_cam)
            feats[-1] = self.cross_view(feats[-1])
        return feats

    def state_of(self, image: torch.Tensor) -> torch.Tensor:
        """The temporal state a set leaves for the next one: its bottleneck [B*N, C, H/32, W/32] (before temporal
        fusion, so the state never feeds back on itself)."""
        return self._encode(image)[-1]

    def forward(self, image: torch.Tensor, prev_state: torch.Tensor | None = None,
                prev_valid: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        feats = self._encode(image)
        state = feats[-1]
        if self.temporal is not None:
            if prev_state is None:  # no history: the block is the identity (valid 0), its graph still built
                prev_state, prev_valid = torch.zeros_like(state), state.new_zeros(state.shape[0])
            feats[-1] = self.temporal(state, prev_state, prev_valid)
        centers = self.bin_centers(feats[-1])
        dec = self.decoder(feats)
        logits = self.prob_head(dec)
        probs = torch.softmax(logits, dim=1)
        depth_half = (probs * centers[:, :, None, None]).sum(1, keepdim=True)
        depth = F.interpolate(depth_half, size=image.shape[-2:], mode="bilinear", align_corners=False)
        out = {"depth": depth, "centers": centers, "logits": logits, "probs": probs, "features": dec}
        if self.temporal is not None:
            out["state"] = state
        if self.valid_head is not None:
            v_in = (torch.cat([dec, F.avg_pool2d(image, self.cfg.output_stride)], 1) if self.cfg.validity_input_skip
                    else dec)
            out["valid_logit"] = F.interpolate(self.valid_head(v_in), size=image.shape[-2:], mode="bilinear",
                                               align_corners=False)
        if self.semantic_head is not None:
            out["semantic_logits"] = F.interpolate(self.semantic_head(dec), size=image.shape[-2:], mode="bilinear",
                                                   align_corners=False)
        return out


class DepthOnly(nn.Module):
    """What is exported for inference: image [N, 3, H, W] -> depth [N, 1, H, W] (metres; NaN where the validity
    head, when the network has one, says there is no surface: the node publishes NaN and the cloud skips it).
    A temporal network: (image, prev_state [N, C, H/32, W/32], prev_valid [N]) -> (depth, state)."""

    def __init__(self, net: SurroundDepthStudent):
        super().__init__()
        self.net = net

    def _depth(self, out):
        if "valid_logit" not in out:
            return out["depth"]
        return torch.where(out["valid_logit"] >= 0, out["depth"], torch.full_like(out["depth"], float("nan")))

    def forward(self, image, prev_state=None, prev_valid=None):
        out = self.net(image, prev_state, prev_valid)
        return (self._depth(out), out["state"]) if "state" in out else self._depth(out)


def build_student(cfg: StudentConfig | dict | None = None) -> SurroundDepthStudent:
    """The one builder: from a StudentConfig or its dict (as stored in checkpoints and manifests)."""
    if isinstance(cfg, dict):
        cfg = StudentConfig(**{k: tuple(v) if k in ("blocks", "geometry_inputs", "mean", "std") else v
                               for k, v in cfg.items()})
    return SurroundDepthStudent(cfg or StudentConfig())
