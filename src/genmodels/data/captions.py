"""Captions for text-to-image models (GAN-INT-CLS): templated sentences for mnist, and user pairs.

`mnist[captions]` adds three fields to every image (see `add_captions`):
- `text`: uint8 [N, 96], one caption's UTF-8 bytes, zero padded (`encode_texts` / `decode_texts`);
- `named`: int64 [N, 3], the bucket (0, 1, 2 of `attributes.BUCKET_WORDS`) the caption names for
  thickness, slant and size, or −1 where it names nothing;
- `measured`: int64 [N, 3], the measured buckets, named or not.

A caption names the digit (as a word, "seven", or a numeral, "7") and 0 to 2 of the attributes
that are extreme for that image (bucket 0 or 2), each in one of several paraphrases, inside one of
several sentence frames. To test whether a text encoder generalises rather than memorises, the
test split is worded differently: it uses only `TEST_FRAMES`, which no other split uses, and its
paraphrases include `TEST_PHRASES`, which no other split uses. Both recombine words the training
captions contain ("leaning to the right" from "leaning right" and "slanted to the right"), so a
word- or character-level encoder trained on the training captions can still read them.

Everything is deterministic: each row draws from `numpy.random.RandomState` seeded by the split
and the row number.

`captions:FILE.jsonl` (`load_captions`) reads a user's own image and caption pairs.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from genmodels.data.attributes import ATTRIBUTES, bucket, measure_attributes
from genmodels.data.dataset import DataError, ImageSet

TEXT_LENGTH = 96  # bytes per caption in the `text` field
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

# Sentence frames; `{np}` is the noun phrase ("a thick seven leaning right"). Every frame has fixed
# words of its own, so which frame wrote a caption can be read back from it.
TRAIN_FRAMES = (
    "a picture of {np}",
    "this is {np}",
    "an image of {np}",
    "{np} on a black background",
    "a handwritten digit: {np}",
    "{np}, written by hand",
)
TEST_FRAMES = (
    "this image is {np}",
    "{np} in a picture",
    "on a black background, {np}",
    "a digit written by hand: {np}",
)

# Paraphrases per attribute and extreme bucket, as adjectives before the digit ("a bold seven") or
# phrases after it ("a seven drawn with a heavy pen"). Middle buckets are never named.
Phrases = dict[str, dict[int, dict[str, tuple[str, ...]]]]
TRAIN_PHRASES: Phrases = {
    "thickness": {
        0: {"before": ("thin", "light", "fine"), "after": ("with a thin stroke", "drawn with a fine pen")},
        2: {
            "before": ("thick", "bold", "heavy"),
            "after": ("with a thick stroke", "drawn with a heavy pen", "in bold lines"),
        },
    },
    "slant": {
        0: {
            "before": ("left-leaning",),
            "after": ("slanted to the left", "leaning left", "tilted to the left"),
        },
        2: {
            "before": ("italic", "right-leaning"),
            "after": ("slanted to the right", "leaning right", "tilted to the right"),
        },
    },
    "size": {
        0: {"before": ("small", "tiny", "little"), "after": ("drawn small", "of small size")},
        2: {"before": ("large", "big", "huge"), "after": ("drawn large", "of large size")},
    },
}
TEST_PHRASES: Phrases = {
    "thickness": {
        0: {"before": ("thin-stroke",), "after": ("with a fine stroke", "drawn with a thin pen")},
        2: {"before": ("thick-stroke",), "after": ("with a bold stroke", "drawn with a thick pen")},
    },
    "slant": {
        0: {"before": ("left-tilted",), "after": ("leaning to the left", "tilted left")},
        2: {"before": ("right-tilted",), "after": ("leaning to the right", "tilted right")},
    },
    "size": {
        0: {"before": ("small-size",), "after": ("drawn tiny", "of little size")},
        2: {"before": ("large-size",), "after": ("drawn big", "of big size")},
    },
}
_SPLIT_SEEDS = {"train": 0, "test": 1, "fit": 2, "val": 3, "all": 4}
_CAPTION_SEED = 7_000


# ----------------------------------------------------------------------------------------------
# Bytes


def encode_texts(texts: list[str], length: int = TEXT_LENGTH) -> Tensor:
    """UTF-8 bytes of each text, zero padded: uint8 [N, length]. Refuses a text over `length` bytes
    (it would lose its end) and a text holding a NUL character (it would read as padding)."""
    encoded = np.zeros((len(texts), length), dtype=np.uint8)
    for row, text in enumerate(texts):
        data = text.encode("utf-8")
        if len(data) > length:
            raise ValueError(f"caption {text!r} is {len(data)} bytes in UTF-8, over the limit of {length}")
        if 0 in data:
            raise ValueError(f"caption {text!r} contains a NUL character, which marks padding")
        encoded[row, : len(data)] = np.frombuffer(data, dtype=np.uint8)
    return torch.from_numpy(encoded)


def decode_texts(encoded: Tensor) -> list[str]:
    """The texts of `encode_texts`' rows (uint8 [N, L], or one row [L])."""
    if encoded.dim() not in (1, 2):
        raise ValueError(f"expected encoded texts [N, L] or [L], got shape {tuple(encoded.shape)}")
    data = encoded.reshape(-1, encoded.shape[-1]).to(torch.uint8).cpu().numpy()
    return [row.tobytes().split(b"\0", 1)[0].decode("utf-8", errors="replace") for row in data]


# ----------------------------------------------------------------------------------------------
# Templated captions


def _with_articles(text: str) -> str:
    """Each article as the next word's sound asks: "an eight", "an 8", "an italic", but "a one"."""

    def article(match: re.Match[str]) -> str:
        word = match[2]
        vowel = word[0] in "aeiou" and not word.startswith(("one", "u"))
        return f"{match[1][0]}{'n' if vowel or word.startswith(('8', '11', '18')) else ''} {word}"

    return re.sub(r"\b([Aa]n?) ([\w-]+)", article, text)


def compose_caption(
    label: int, named: list[int] | Tensor, rng: np.random.RandomState, test: bool = False
) -> str:
    """One caption for digit `label` naming the buckets in `named` (3 entries, −1 = not named), in
    the order given by `rng`; `test` words it with the held-out frames and phrases."""
    frames = TEST_FRAMES if test else TRAIN_FRAMES
    before: list[str] = []
    after: list[str] = []
    mentioned = [i for i, value in enumerate(named) if int(value) >= 0]
    for i in (mentioned[j] for j in rng.permutation(len(mentioned))):
        value = int(named[i])
        attribute = ATTRIBUTES[i]
        if value not in TRAIN_PHRASES[attribute]:
            raise ValueError(f"captions name only extreme buckets (0 or 2); got {attribute} bucket {value}")
        place = "before" if rng.rand() < 0.5 else "after"
        choices = TRAIN_PHRASES[attribute][value][place]
        if test:
            choices = choices + TEST_PHRASES[attribute][value][place]
        (after if place == "after" else before).append(choices[rng.randint(len(choices))])
    digit = DIGIT_WORDS[label] if rng.rand() < 0.5 else str(label)
    noun_phrase = " ".join(["a", *before, digit])
    if after:
        noun_phrase += " " + " and ".join(after)
    frame = frames[rng.randint(len(frames))]
    return _with_articles(frame.format(np=noun_phrase))


def choose_named(buckets: list[int], rng: np.random.RandomState) -> list[int]:
    """Which measured buckets a caption names: 0 to 2 (as many as there are) of the extreme ones."""
    extreme = [i for i, value in enumerate(buckets) if value in (0, 2)]
    count = rng.randint(min(2, len(extreme)) + 1)
    named = [-1] * len(ATTRIBUTES)
    for i in rng.choice(extreme, count, replace=False) if count else []:
        named[int(i)] = buckets[int(i)]
    return named


def caption_for(label: int, named: list[int] | Tensor, seed: int = 0, split: str = "train") -> str:
    """A caption for digit `label` naming `named` (3 buckets, −1 = not named), e.g. for a prompt."""
    if not 0 <= int(label) < len(DIGIT_WORDS):
        raise ValueError(f"label {label} is not a digit 0..9")
    if len(named) != len(ATTRIBUTES):
        raise ValueError(f"named must hold {len(ATTRIBUTES)} buckets ({', '.join(ATTRIBUTES)}), got {named}")
    return compose_caption(int(label), named, np.random.RandomState([_CAPTION_SEED, seed]), split == "test")


def add_captions(data: ImageSet, split: str) -> ImageSet:
    """`data` (labelled digits) with the fields `text`, `named` and `measured` (module docstring)."""
    if data.labels is None:
        raise DataError(f"{data.name}: captions need digit labels; this set has none")
    if data.num_classes is not None and data.num_classes > len(DIGIT_WORDS):
        raise DataError(f"{data.name}: captions name digits 0..9; this set has {data.num_classes} classes")
    if split not in _SPLIT_SEEDS:
        raise DataError(f"{data.name}: unknown split {split!r}; choose one of {', '.join(_SPLIT_SEEDS)}")
    measured = bucket(measure_attributes(data.images))
    texts, named = [], []
    rng = np.random.RandomState()
    for row, (label, buckets) in enumerate(zip(data.labels.tolist(), measured.tolist(), strict=True)):
        # Reseeding one generator per row is 10x faster than building one, with the same stream.
        rng.seed([_CAPTION_SEED, _SPLIT_SEEDS[split], row])
        named.append(choose_named(buckets, rng))
        texts.append(compose_caption(label, named[-1], rng, test=split == "test"))
    fields = {
        **data.fields,
        "text": encode_texts(texts),
        "named": torch.tensor(named, dtype=torch.int64).reshape(-1, len(ATTRIBUTES)),
        "measured": measured,
    }
    return data.replace(fields=fields)


# ----------------------------------------------------------------------------------------------
# captions:FILE.jsonl


CAPTION_SPLITS = ("train", "test", "all")


def load_captions(path: str | Path, split: str) -> ImageSet:
    """Image and caption pairs from a JSON-lines file, one object per line:
    `{"image": "digits/0001.png", "text": "a bold seven", "split": "test", "label": 7}`.

    `image` is relative to the file's folder (or absolute) and read with Pillow (grey stays one
    channel; if any image is colour all become RGB; all must be the same size). `split` is "train"
    or "test" (default "train"); split "all" takes every row. `label` (an integer) is optional but
    must be on every row or none. The set has the field `text` (uint8 [N, 96]) and the labels.
    """
    from genmodels.data.formats import _stack_images

    file = Path(path)
    if split not in CAPTION_SPLITS:
        raise DataError(
            f"{file}: unknown split {split!r} for captions; choose one of {', '.join(CAPTION_SPLITS)}"
        )
    rows = _read_rows(file)
    chosen = [row for row in rows if split == "all" or row["split"] == split]
    if not chosen:
        raise DataError(f'{file}: no rows for split {split!r} (rows without "split" are train)')
    labelled = [row["label"] is not None for row in chosen]
    if any(labelled) and not all(labelled):
        line = chosen[labelled.index(False)]["line"]
        raise DataError(f'{file}: line {line} has no "label" but other rows do; label every row or none')
    try:
        images = _stack_images([row["image"] for row in chosen])
    except DataError as exc:  # names the image at fault; say which captions file listed it
        raise DataError(f"{file}: {exc}") from exc
    labels = torch.tensor([row["label"] for row in chosen], dtype=torch.int64) if all(labelled) else None
    texts = encode_texts([row["text"] for row in chosen])
    return ImageSet(torch.from_numpy(images), labels, f"captions:{file}/{split}", fields={"text": texts})


def _read_rows(file: Path) -> list[dict]:
    """Every row of the file, checked: image (an existing file), text, split, label and line number."""
    if not file.is_file():
        raise DataError(f"{file}: no such file" if not file.exists() else f"{file}: is not a file")
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{file}: is not a readable UTF-8 text file ({exc})") from exc
    rows = []
    for number, line in enumerate(lines, start=1):
        if line.strip():
            rows.append(_parse_row(file, number, line))
    if not rows:
        raise DataError(f'{file}: holds no rows; expected one JSON object per line with "image" and "text"')
    return rows


def _parse_row(file: Path, number: int, line: str) -> dict:
    where = f"{file}: line {number}"
    try:
        entry = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DataError(f"{where}: is not valid JSON ({exc.msg})") from exc
    # A number over Python's digit limit (a ValueError) or nesting past the recursion limit.
    except (ValueError, RecursionError) as exc:
        raise DataError(f"{where}: is not valid JSON ({exc})") from exc
    if not isinstance(entry, dict):
        raise DataError(
            f'{where}: expected a JSON object with "image" and "text", got {type(entry).__name__}'
        )
    for key in ("image", "text"):
        if key not in entry:
            raise DataError(f"{where}: missing key {key!r}")
        if not isinstance(entry[key], str) or not entry[key]:
            raise DataError(f"{where}: {key!r} must be a non-empty string")
    split = entry.get("split", "train")
    if split not in ("train", "test"):
        raise DataError(f'{where}: "split" must be "train" or "test", got {split!r}')
    label = entry.get("label")
    if label is not None and (
        isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < 2**63
    ):
        raise DataError(f'{where}: "label" must be a non-negative 64-bit integer, got {label!r}')
    size = len(entry["text"].encode("utf-8"))
    if size > TEXT_LENGTH:
        raise DataError(f'{where}: "text" is {size} bytes in UTF-8, over the limit of {TEXT_LENGTH}')
    if "\0" in entry["text"]:
        raise DataError(f'{where}: "text" contains a NUL character')
    image = file.parent / entry["image"]  # an absolute path replaces the folder
    if not image.is_file():
        raise DataError(
            f"{where}: image {image} does not exist"
            if not image.exists()
            else f"{where}: {image} is not a file"
        )
    return {"image": image, "text": entry["text"], "split": split, "label": label, "line": number}
