"""Conditional correctness: does a sample show what its condition asked for?

`text_conditioning` draws one image for each caption of a captioned data set (for `mnist[captions]`
test split: sentences in phrasings held out of training) and reports
- digit accuracy: the share of samples that the digit classifier reads as the digit the sentence
  names (chance 10%);
- attribute agreement: for the attributes a sentence names (thin/thick stroke, slant, size), the
  share of samples whose measured attribute falls in the named tercile (chance about 1/3) and on
  the named side of the median (chance 1/2);
- sample quality of those samples against the real images of the split (FD-digits, ...).
"""

from __future__ import annotations

from typing import Any

from genmodels.data import ImageSet, View, evaluation_view, to_unit
from genmodels.evaluation.features import FeatureNetwork, load_feature_network
from genmodels.evaluation.sample_quality import draw_samples, image_quality, real_images


def text_conditioning(
    model: Any,
    data: ImageSet,
    view: View,
    *,
    features: FeatureNetwork | str | None = None,
    seed: int = 0,
    samples_per_caption: int = 1,
) -> dict[str, Any]:
    """Digit accuracy, attribute agreement and sample quality of a text-to-image model on `data`."""
    from genmodels.data.attributes import attribute_agreement

    if "text" not in data.fields or data.labels is None:
        raise ValueError(f"{data.name}: text conditioning needs captions and labels, e.g. mnist[captions]")
    network = features if isinstance(features, FeatureNetwork) else load_feature_network(features)
    n = len(data) * samples_per_caption
    fake = to_unit(draw_samples(model, n, seed=seed, data=data, view=view), view.kind)
    named_labels = data.labels.repeat(samples_per_caption)
    predicted = network.classify(fake)
    per_class = [
        float((predicted[named_labels == k] == k).float().mean()) for k in range(int(named_labels.max()) + 1)
    ]
    result: dict[str, Any] = {
        "digit_accuracy": float((predicted == named_labels).float().mean()),
        "digit_accuracy_per_class": per_class,
        "n_samples": n,
    }
    if "named" in data.fields:
        result["attributes"] = attribute_agreement(
            fake, data.fields["named"].repeat(samples_per_caption, 1), labels=named_labels
        )
    real = real_images(data, view, seed=seed)
    quality = image_quality(real, fake, network, seed=seed)
    quality["real"] = f"{data.name} ({evaluation_view(view).describe()})"
    result["sample_quality"] = quality
    return result


def examples(data: ImageSet, count: int = 8) -> list[str]:
    """The first `count` captions of a captioned set, as text (for reports)."""
    from genmodels.data.captions import decode_texts

    return decode_texts(data.fields["text"][:count])
