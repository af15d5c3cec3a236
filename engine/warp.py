"""Random smooth warps by thin-plate splines (TPS), the augmentation of DeepSIM and of drawn sketches.

A `grid` x `grid` lattice of control points is jittered by a Gaussian of `strength` (a fraction of the
image side); the TPS through those points is the smoothest map (least bending energy) that moves each
control point to its jittered place. It is solved once per draw (a (grid² + 3)-square linear system)
and evaluated on a coarse grid (every `MAP_STEP` pixels; the map is smooth) resized to a backward map
for cv2.remap, or upsampled on tensors to a sampling grid for torch's grid_sample (`tps_warp_tensors`: one
warp applied identically to several tensors, e.g. a single training pair). Written here rather than taken
from kornia because the data workers run on numpy arrays and cv2, and the solve is a dozen lines.
"""
from __future__ import annotations

import random

import cv2
import numpy as np
import torch
import torch.nn.functional as F

MAP_STEP = 8

def _tps_kernel(squared_distance: np.ndarray) -> np.ndarray:
    """U(r) = r² log r², the 2-D thin-plate radial basis (0 at r = 0)."""
    return np.where(squared_distance > 0, squared_distance * np.log(np.maximum(squared_distance, 1e-12)), 0.0)


def tps_offsets(coarse_width: int, coarse_height: int, grid: int = 4, strength: float = 0.02,
                rng: random.Random | None = None) -> np.ndarray:
    """A random TPS displacement field on a coarse_height x coarse_width lattice spanning the image:
    float32 (coarse_height, coarse_width, 2) offsets (x, y) as fractions of the image side.

    Control points sit on a `grid` x `grid` lattice over the image (corners included), each jittered by
    a Gaussian of `strength`; strength 0 gives a zero field.
    """
    if grid < 2:
        raise ValueError(f"grid must be at least 2, got {grid}")
    if strength < 0:
        raise ValueError(f"strength must be >= 0, got {strength}")
    rng = rng or random.Random()
    axis = np.linspace(0.0, 1.0, grid)
    points = np.stack(np.meshgrid(axis, axis), -1).reshape(-1, 2)                    # (n, 2) in [0, 1]
    offsets = np.array([[rng.gauss(0.0, strength), rng.gauss(0.0, strength)] for _ in points])
    n = len(points)
    squared = ((points[:, None] - points[None]) ** 2).sum(-1)
    affine = np.hstack([np.ones((n, 1)), points])
    system = np.zeros((n + 3, n + 3))
    system[:n, :n] = _tps_kernel(squared)
    system[:n, n:] = affine
    system[n:, :n] = affine.T
    rhs = np.zeros((n + 3, 2))
    rhs[:n] = offsets
    weights = np.linalg.solve(system, rhs)                                           # (n + 3, 2)
    gx, gy = np.meshgrid(np.linspace(0.0, 1.0, coarse_width), np.linspace(0.0, 1.0, coarse_height))
    samples = np.stack([gx, gy], -1).reshape(-1, 2)
    basis = _tps_kernel(((samples[:, None] - points[None]) ** 2).sum(-1))
    offset = basis @ weights[:n] + np.hstack([np.ones((len(samples), 1)), samples]) @ weights[n:]
    return offset.reshape(coarse_height, coarse_width, 2).astype(np.float32)


def _coarse_size(width: int, height: int) -> tuple[int, int]:
    return max(2, -(-width // MAP_STEP) + 1), max(2, -(-height // MAP_STEP) + 1)


def tps_map(width: int, height: int, grid: int = 4, strength: float = 0.02,
            rng: random.Random | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A random TPS backward map (map_x, map_y), float32 arrays of shape (height, width) for cv2.remap:
    each output pixel samples the input at its own position plus the TPS-interpolated offset of the jitter.
    """
    offset = tps_offsets(*_coarse_size(width, height), grid, strength, rng)
    offset = cv2.resize(offset, (width, height), interpolation=cv2.INTER_LINEAR)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    return xs + offset[..., 0] * (width - 1), ys + offset[..., 1] * (height - 1)


def tps_grid(width: int, height: int, grid: int = 4, strength: float = 0.02,
             rng: random.Random | None = None) -> torch.Tensor:
    """A random TPS as a (1, height, width, 2) sampling grid for `torch.nn.functional.grid_sample`
    (align_corners=True); strength 0 gives the identity grid. The offsets are upsampled as cv2.resize does,
    so the same `rng` state gives the same warp as `tps_map`."""
    offset = torch.from_numpy(tps_offsets(*_coarse_size(width, height), grid, strength, rng))
    offset = F.interpolate(offset.permute(2, 0, 1)[None], size=(height, width), mode="bilinear",
                           align_corners=False)[0].permute(1, 2, 0)
    ys, xs = torch.meshgrid(torch.linspace(-1.0, 1.0, height), torch.linspace(-1.0, 1.0, width), indexing="ij")
    return (torch.stack([xs, ys], -1) + 2.0 * offset)[None]      # offsets are fractions of the side: x2 in [-1, 1]


def tps_warp_tensors(tensors: list[torch.Tensor], grid: int = 4, strength: float = 0.02,
                     rng: random.Random | None = None, modes: list[str] | None = None) -> list[torch.Tensor]:
    """The same random TPS applied to every CHW tensor of `tensors` (all of one height and width);
    `modes` gives each its grid_sample interpolation ("bilinear" by default; "nearest" for label maps).
    Borders are reflected."""
    height, width = tensors[0].shape[-2:]
    if any(t.shape[-2:] != (height, width) for t in tensors):
        raise ValueError(f"tensors must share one size, got {[tuple(t.shape) for t in tensors]}")
    sampling = tps_grid(width, height, grid, strength, rng)
    modes = modes or ["bilinear"] * len(tensors)
    return [F.grid_sample(t[None].float(), sampling.to(t.device), mode=mode, padding_mode="reflection",
                          align_corners=True)[0] for t, mode in zip(tensors, modes)]


def tps_warp(image: np.ndarray, grid: int = 4, strength: float = 0.02, rng: random.Random | None = None,
             interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """`image` (HxW or HxWxC array) warped by one random TPS; borders are reflected."""
    map_x, map_y = tps_map(image.shape[1], image.shape[0], grid, strength, rng)
    return cv2.remap(image, map_x, map_y, interpolation, borderMode=cv2.BORDER_REFLECT_101)
