"""Key local patches for Puzzle-GAN: a few square crops of each image, with their true places.

`mnist[patches=3, patch_size=10]` adds the field `boxes`, int64 [N, K, 4] as (top, left, height,
width) in the image's own pixel grid. The patches themselves are not stored: a model cuts them from
the batch's view of the image (`cut_patches`), so they are always in the model's range, and the
true masks of their places (`box_masks`) are what placement is scored against.

Boxes are chosen as Lee et al. (2018) choose key patches: parts of the object, not background.
Among all positions whose ink is at least `INK_SHARE` of the richest position's, K are drawn at
random (seeded by the split), preferring places that overlap the earlier ones little, so the three
pieces show different parts of the digit.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from genmodels.data.dataset import DataError, ImageSet

INK_SHARE = 0.5  # a candidate box holds at least half the ink of the richest box
MAX_OVERLAP = 0.25  # preferred largest IoU with an earlier box of the same image
_SPLIT_SEEDS = {"train": 0, "test": 1, "fit": 2, "val": 3, "all": 4}


def add_key_patches(data: ImageSet, split: str, count: int, size: int) -> ImageSet:
    """`data` with a `boxes` field: `count` boxes of `size` x `size` pixels per image."""
    _, _, height, width = data.images.shape
    if count < 1:
        raise DataError(f"{data.name}: patches={count}; ask for at least one patch per image")
    if not 2 <= size <= min(height, width):
        raise DataError(f"{data.name}: patch_size={size} must be in 2..{min(height, width)} for these images")
    rng = np.random.RandomState(5_000 + _SPLIT_SEEDS.get(split, 9))
    ink = data.images.float().mean(1, keepdim=True)  # [N, 1, H, W]
    box_ink = F.avg_pool2d(ink, size, stride=1).squeeze(1).numpy()  # [N, H-size+1, W-size+1]
    positions = np.stack(np.meshgrid(*map(np.arange, box_ink.shape[1:]), indexing="ij"), -1).reshape(-1, 2)
    boxes = np.zeros((len(data), count, 4), dtype=np.int64)
    boxes[..., 2:] = size
    for row, scores in enumerate(box_ink.reshape(len(data), -1)):
        candidates = positions[scores >= INK_SHARE * scores.max()]
        chosen: list[np.ndarray] = []
        for place in rng.permutation(len(candidates)):
            if len(chosen) == count:
                break
            if all(_iou(candidates[place], earlier, size) <= MAX_OVERLAP for earlier in chosen):
                chosen.append(candidates[place])
        while len(chosen) < count:  # a small digit: allow overlapping pieces
            chosen.append(candidates[rng.randint(len(candidates))])
        boxes[row, :, :2] = np.stack(chosen)
    return data.replace(fields={**data.fields, "boxes": torch.from_numpy(boxes)})


def _iou(a: np.ndarray, b: np.ndarray, size: int) -> float:
    overlap = np.prod(np.clip(size - np.abs(a - b), 0, None))
    return float(overlap / (2 * size * size - overlap))


def cut_patches(x: Tensor, boxes: Tensor) -> Tensor:
    """The patches of `x` [B, C, H, W] under `boxes` [B, K, 4] (equal sizes): [B, K, C, h, w]."""
    size_h, size_w = int(boxes[0, 0, 2]), int(boxes[0, 0, 3])
    if not (torch.all(boxes[..., 2] == size_h) and torch.all(boxes[..., 3] == size_w)):
        raise ValueError("cut_patches needs boxes of one size")
    b, k = boxes.shape[:2]
    rows = boxes[..., 0, None] + torch.arange(size_h, device=x.device)  # [B, K, h]
    cols = boxes[..., 1, None] + torch.arange(size_w, device=x.device)  # [B, K, w]
    batch = torch.arange(b, device=x.device)[:, None, None, None]
    # Advanced indexing gathers every patch at once: [B, K, h, w, C] -> [B, K, C, h, w].
    patches = x.permute(0, 2, 3, 1)[batch, rows[..., :, None], cols[..., None, :]]
    return patches.permute(0, 1, 4, 2, 3).reshape(b, k, x.shape[1], size_h, size_w)


def box_masks(boxes: Tensor, height: int, width: int) -> Tensor:
    """1 inside each box, 0 outside: [B, K, 1, H, W] (float)."""
    rows = torch.arange(height, device=boxes.device)
    cols = torch.arange(width, device=boxes.device)
    top, left, h, w = (boxes[..., i, None] for i in range(4))
    inside_rows = (rows >= top) & (rows < top + h)  # [B, K, H]
    inside_cols = (cols >= left) & (cols < left + w)  # [B, K, W]
    return (inside_rows[..., :, None] & inside_cols[..., None, :]).float().unsqueeze(2)


def mask_iou(predicted: Tensor, true: Tensor, threshold: float = 0.5) -> Tensor:
    """IoU of predicted masks (in [0, 1], thresholded) with true ones, per patch: [B, K]."""
    predicted, true = predicted > threshold, true > 0.5
    intersection = (predicted & true).flatten(2).sum(-1).float()
    union = (predicted | true).flatten(2).sum(-1).float()
    return intersection / union.clamp(min=1)
