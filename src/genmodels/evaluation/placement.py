"""Placement and appearance of a Puzzle-GAN: does it put each key patch where it came from, and
does the whole image it paints reproduce the patch there?

On a data set with key-patch boxes (`mnist[patches=3]`, test split), for every image and patch k:

- placement: IoU of the predicted mask M̂_k (thresholded at ½) with patch k's true box
  (`mask_iou`); reported as the mean IoU and the share of patches with IoU ≥ 0.5;
- appearance: the mean absolute difference, per pixel and in [0, 1] units, between the generated
  image under patch k's true box and the patch itself (0: pixel-exact; the digits' typical
  difference between two unrelated patches is a few tenths);
- a baseline for the IoU: every patch placed in the centre of the image, which is what a model that
  ignored the patches' content would do best on centred digits.

Deterministic for a seed: the noise z of each image comes from one seeded generator, the images
are taken in order.
"""

from __future__ import annotations

from typing import Any

import torch

from genmodels.data import ImageSet, View, ordered_batches
from genmodels.data.key_patches import box_masks, cut_patches, mask_iou

IOU_HIT = 0.5


@torch.no_grad()
def placement_scores(
    model: Any,
    data: ImageSet,
    *,
    seed: int = 0,
    batch_size: int = 250,
    limit: int | None = None,
) -> dict[str, Any]:
    """Mean IoU of predicted with true boxes, the share with IoU ≥ 0.5, and appearance L1.

    `model` has `condition_from_batch` and `complete(patches, generator) -> (images, masks)` (a
    Puzzle-GAN); `data` carries `boxes` (e.g. `load_dataset("mnist[patches=3]", "test")`).
    `limit` scores only the first images."""
    if "boxes" not in data.fields:
        raise ValueError(f"{data.name} has no key-patch boxes: load it with patches, e.g. 'mnist[patches=3]'")
    was_training = model.training
    model.eval()
    generator = torch.Generator(model.device).manual_seed(seed)
    ious, centre_ious, errors = [], [], []
    seen = 0
    try:
        for batch in ordered_batches(data, View("symmetric"), batch_size, seed):
            if limit is not None:
                if seen >= limit:
                    break
                batch = {key: value[: limit - seen] for key, value in batch.items()}
            batch = {key: value.to(model.device) for key, value in batch.items()}
            seen += len(batch["x"])
            boxes = batch["boxes"]
            height, width = batch["x"].shape[-2:]
            patches = model.condition_from_batch(batch)
            images, masks = model.complete(patches, generator=generator)
            true = box_masks(boxes, height, width)
            ious.append(mask_iou(masks, true).flatten().cpu())
            centred = boxes.clone()
            centred[..., 0] = (height - boxes[..., 2]) // 2
            centred[..., 1] = (width - boxes[..., 3]) // 2
            centre_ious.append(mask_iou(box_masks(centred, height, width), true).flatten().cpu())
            # [-1, 1] differences halve to [0, 1] units.
            difference = (cut_patches(images, boxes) - patches).abs() / 2
            errors.append(difference.flatten(1).mean(1).cpu())
    finally:
        model.train(was_training)
    iou, centre = torch.cat(ious), torch.cat(centre_ious)
    appearance = torch.cat(errors)
    return {
        "mean_iou": float(iou.mean()),
        "share_iou_50": float((iou >= IOU_HIT).float().mean()),
        "appearance_l1": float(appearance.mean()),
        "centre_baseline_mean_iou": float(centre.mean()),
        "centre_baseline_share_iou_50": float((centre >= IOU_HIT).float().mean()),
        "images": seen,
        "patches": len(iou),
        "data": data.name,
        "seed": seed,
    }
