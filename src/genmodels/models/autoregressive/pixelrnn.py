"""PixelRNN (van den Oord, Kalchbrenner & Kavukcuoglu 2016): two-dimensional LSTMs over the image,
in raster order with the colours R -> G -> B inside each pixel.

    p(x) = Π_i p(x_{i,R} | x_<i) · p(x_{i,G} | x_<i, x_{i,R}) · p(x_{i,B} | x_<i, x_{i,R}, x_{i,G})

The network, with h the LSTM state features and 2h the features of the residual stream s:

    s⁰ = K_A ⊛ x                                        7x7 convolution, mask A
    sˡ = sˡ⁻¹ + K_out ⊛ LSTMˡ(sˡ⁻¹),   l = 1..L       residual connection; K_out a 1x1 mask-B conv h -> 2h
    logits = K_2 ⊛ ReLU(K_1 ⊛ ReLU(sᴸ))                1x1 convolutions, mask B

Each LSTM layer computes, at every step i of its recurrence (a row, or a diagonal),

    [o_i, f_i, i_i, g_i] = [σ, σ, σ, tanh](K_ss ⊛ h_{i−1} + K_is ⊛ s_i + V[y])
    c_i = f_i ⊙ c_{i−1} + i_i ⊙ g_i,        h_i = o_i ⊙ tanh(c_i)

where the input-to-state convolution K_is is computed for the whole map at once and only the
state-to-state convolution K_ss is sequential. V[y] is the class bias (`ClassBias`, identity when
unconditional) on the input-to-state pre-activations.

Row LSTM. The recurrence runs down the rows, all columns of a row in parallel: K_is is a 1x3
mask-B convolution of the layer input (the pixel to the left, and the pixel itself), K_ss a 1x3
convolution of the previous row's hidden state (the three pixels above). Its context is a
triangle above the pixel, not the full past. Derivation, for a 1-channel image: write (a, d) for
"output (r, j) reads the input at (r − a, j − d)". The first layer reads
F₀ = {(a, d): 1 ≤ a ≤ 3, |d| ≤ 3} ∪ {(0, 1), (0, 2), (0, 3)}. One Row LSTM layer reads its input
through K_is at offset d ∈ {0, 1}, then climbs any number a ≥ 0 of rows through K_ss, each step
moving d by −1, 0 or +1: S = {(a, d): a ≥ 0, −a ≤ d ≤ a + 1}; the residual path is (0, 0) ∈ S.
L layers compose to S^L = {(a, d): −a ≤ d ≤ a + L}, and F₀ + S^L is

    a = 0:  1 ≤ d ≤ L + 3               (the L + 3 pixels to the left in the same row)
    a ≥ 1:  −(a + 2) ≤ d ≤ a + L + 3    (a triangle widening by one pixel each way per row up)

cut to the image (every such path can be taken inside it: rows and columns both move
monotonically). With colours, the pixel itself contributes its earlier colours (mask A) and every
other pixel of the triangle all of them. Pixels outside it, however many layers, are never read:
`has_full_context = False`.

Diagonal BiLSTM. The input map is skewed (row r shifted right by r, so that each diagonal of the
image is a column), K_is is a 1x1 mask-B convolution, and K_ss a 2x1 convolution of the previous
column's hidden state: in image coordinates, the state at (r, j) reads the states at (r, j − 1) and
(r − 1, j), so the left-to-right direction covers every pixel above and to the left. The
right-to-left direction is an LSTM of the same form, with its own weights, run on the map with its
columns flipped; it covers everything above and to the right, including the rest of the current
row, so its output is shifted down by one row before it is added to the left-to-right output.
Then the layer reads every earlier position of its input map.

One deviation from the paper, to keep the claim of a full context true. The mask-A stream never
carries the last pixel of a row, x(r, W − 1) (with colours: its last colour), to any position of
row r (there is none after it), and the 7x7 first layer brings it to row r + 1 only at columns
≥ W − 4. So with the paper's layer, pixels (r + 1, j < W − 4) never see x(r, W − 1), however many
layers are stacked. The right-to-left direction is shifted down by one row, so every pixel of the
rows it covers is in the past, the pixel itself included: each layer's right-to-left direction
also reads the image through a 1x1 convolution (`image_to_state`). With those weights at zero the
layer is the paper's.

Colours. The feature maps are split into C contiguous colour blocks (R, G, B); mask A lets the
first layer's colour-c features read the earlier colours of the pixel, mask B on every later
per-pixel connection (K_is, K_out, the output convolutions) lets colour c read colours ≤ c of the
pixel, and everything the recurrence reads from earlier pixels (K_ss, and the other pixels of
K_is) is unmasked. The LSTM gates are kept in the same colour blocks.

Output: one logit per channel for binary pixels (Bernoulli), `levels` logits per channel
otherwise (a softmax per channel, R -> G -> B). Sampling is the base's pixel-by-pixel sampler.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genmodels.models.autoregressive.base import AutoregressiveConfig, AutoregressiveModel
from genmodels.models.base import full_mnist_recipe
from genmodels.models.layers import ClassBias, MaskedConv2d
from genmodels.registry import register


@dataclass
class PixelRNNConfig(AutoregressiveConfig):
    variant: Literal["row_lstm", "diagonal_bilstm"] = "diagonal_bilstm"
    layers: int = 2  # LSTM layers, each with a residual connection
    hidden_channels: int = 16  # h: LSTM state features; the residual stream has 2h
    lr: float = 1e-3


# -- the LSTM recurrence, shared by both layers ------------------------------------------------------
def input_to_state_conv(
    in_channels: int, gates: int, hidden: int, kernel: int | tuple[int, int], colours: int
) -> MaskedConv2d:
    """K_is: a mask-B convolution to `gates` blocks of `hidden` features, listed gate by gate.

    `causal_conv_mask` lists the outputs in contiguous colour blocks; the LSTM wants gate blocks,
    each of them in the colour blocks of the hidden state. So the mask's rows are reordered from
    (colour, gate, feature) to (gate, colour, feature), once, instead of the activations every time."""
    conv = MaskedConv2d(in_channels, gates * hidden, kernel, "B", colours)
    by_gate = conv.mask.unflatten(0, (colours, gates, hidden // colours)).transpose(0, 1).flatten(0, 2)
    conv.mask.copy_(by_gate.clone())
    return conv


def run_lstm(input_to_state: Tensor, state_to_state: nn.Conv1d, padding: tuple[int, int]) -> Tensor:
    """The sequential part: T steps of an LSTM whose state is a line of L positions.

    `input_to_state` [B, D·4·h, T, L] holds the pre-activations K_is ⊛ s of every step, the gates
    (o, f, i, g) in blocks per direction; `state_to_state` is a 1-d convolution with D groups (one
    per direction) over the previous step's hidden state, padded by `padding`. Returns h [B, D·h, T, L].
    """
    batch, _, _, length = input_to_state.shape
    directions = state_to_state.groups
    hidden_size = state_to_state.in_channels // directions
    hidden = input_to_state.new_zeros(batch, directions * hidden_size, length)
    cell = input_to_state.new_zeros(batch, directions, hidden_size, length)
    outputs = []
    # unbind, not indexing: each index would cost a full-size zero gradient in the backward pass.
    for step_input in input_to_state.unbind(2):
        pre = step_input + state_to_state(F.pad(hidden, padding))
        pre = pre.view(batch, directions, 4, hidden_size, length)
        output_gate, forget_gate, input_gate = pre[:, :, :3].sigmoid().unbind(2)
        cell = forget_gate * cell + input_gate * pre[:, :, 3].tanh()
        hidden = (output_gate * cell.tanh()).view(batch, directions * hidden_size, length)
        outputs.append(hidden)
    return torch.stack(outputs, dim=2)


# -- Row LSTM -----------------------------------------------------------------------------------------
class RowLSTM(nn.Module):
    """One Row LSTM layer with its residual connection: the rows are the steps of the recurrence."""

    def __init__(self, channels: int, hidden: int, colours: int, num_classes: int) -> None:
        super().__init__()
        self.input_to_state = input_to_state_conv(channels, 4, hidden, (1, 3), colours)
        self.class_bias = ClassBias(num_classes, 4 * hidden)
        self.state_to_state = nn.Conv1d(hidden, 4 * hidden, 3, bias=False)  # the row above: j−1, j, j+1
        self.output = MaskedConv2d(hidden, channels, 1, "B", colours)

    def forward(self, stream: Tensor, image: Tensor, y: Tensor | None) -> Tensor:
        """`image` is not read: the Row LSTM's triangle is what it is (see the module docstring)."""
        pre = self.class_bias(self.input_to_state(stream), y)
        hidden = run_lstm(pre, self.state_to_state, padding=(1, 1))  # the rows are the steps
        return stream + self.output(hidden)


# -- Diagonal BiLSTM ----------------------------------------------------------------------------------
def skew(x: Tensor) -> Tensor:
    """[..., H, W] -> [..., H, W + H − 1], row r shifted right by r (zeros elsewhere): the diagonals
    of the image become the columns. Stored column by column, so that `skew(x).transpose(-1, -2)`,
    the columns one after the other as the recurrence reads them, is contiguous."""
    height = x.shape[-2]
    rows = [F.pad(row, (r, height - 1 - r)) for r, row in enumerate(x.unbind(-2))]
    return torch.stack(rows, dim=-1).transpose(-1, -2)


def unskew(x: Tensor, width: int) -> Tensor:
    """The inverse of `skew`: [..., H, W + H − 1] -> [..., H, W]."""
    return torch.stack([row[..., r : r + width] for r, row in enumerate(x.unbind(-2))], dim=-2)


def shift_down(x: Tensor) -> Tensor:
    """Row r takes row r − 1's values; row 0 gets zeros."""
    return F.pad(x, (0, 0, 1, 0))[..., :-1, :]


class DiagonalBiLSTM(nn.Module):
    """One Diagonal BiLSTM layer with its residual connection: the diagonals are the steps."""

    # Only for the test that shows why the shift is there: without it the layer sees the future.
    shift_right_to_left: bool = True

    def __init__(self, channels: int, hidden: int, colours: int, num_classes: int) -> None:
        super().__init__()
        # Both directions' K_is at once (a 1x1 convolution commutes with flipping the columns):
        # 8 gate blocks, the left-to-right direction's 4 then the right-to-left direction's.
        self.input_to_state = input_to_state_conv(channels, 2 * 4, hidden, 1, colours)
        self.class_bias = ClassBias(num_classes, 2 * 4 * hidden)
        # The right-to-left direction reads the image as well (see the module docstring): unmasked,
        # because its output is shifted below every pixel it reads.
        self.image_to_state = nn.Conv2d(colours, 4 * hidden, 1, bias=False)
        # K_ss: the previous column at rows r − 1 and r, one group per direction.
        self.state_to_state = nn.Conv1d(2 * hidden, 2 * 4 * hidden, 2, groups=2, bias=False)
        self.output = MaskedConv2d(hidden, channels, 1, "B", colours)

    def forward(self, stream: Tensor, image: Tensor, y: Tensor | None) -> Tensor:
        width = stream.shape[-1]
        pre = self.class_bias(self.input_to_state(stream), y)
        left_to_right, right_to_left = pre.chunk(2, dim=1)
        right_to_left = right_to_left + self.image_to_state(image)
        both = skew(torch.cat([left_to_right, right_to_left.flip(-1)], dim=1))  # [B, 8h, H, W + H − 1]
        # The columns of the skewed map (the diagonals of the image) are the steps.
        hidden = run_lstm(both.transpose(-1, -2), self.state_to_state, padding=(1, 0))
        hidden = unskew(hidden.transpose(-1, -2), width)  # [B, 2h, H, W]
        left_to_right, right_to_left = hidden.chunk(2, dim=1)
        right_to_left = right_to_left.flip(-1)
        if self.shift_right_to_left:
            right_to_left = shift_down(right_to_left)
        return stream + self.output(left_to_right + right_to_left)


# -- the model ----------------------------------------------------------------------------------------
LAYERS: dict[str, type[RowLSTM] | type[DiagonalBiLSTM]] = {
    "row_lstm": RowLSTM,
    "diagonal_bilstm": DiagonalBiLSTM,
}


@register("pixelrnn")
class PixelRNN(AutoregressiveModel):
    """PixelRNN: Row LSTM or Diagonal BiLSTM layers between a mask-A 7x7 and 1x1 mask-B convolutions."""

    Config = PixelRNNConfig
    equation: ClassVar[str] = (
        r"p(\mathbf{x}) = \prod_i p(x_i \mid \mathbf{x}_{<i}), \quad [\mathbf{o}, \mathbf{f}, "
        r"\mathbf{i}, \mathbf{g}] = \sigma(K^{ss} \circledast \mathbf{h}_{i-1} + K^{is} "
        r"\circledast \mathbf{x}_i), \ \mathbf{c}_i = \mathbf{f} \odot \mathbf{c}_{i-1} + "
        r"\mathbf{i} \odot \mathbf{g}"
    )
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        # Sequential loops over 55 diagonals per layer and direction: small, to train in minutes.
        "cpu": {"variant": "diagonal_bilstm", "layers": 2, "hidden_channels": 8},
        # van den Oord et al. (2016), binarised MNIST: Diagonal BiLSTM, 7 layers, h = 16 (79.20 nats).
        "paper": {"variant": "diagonal_bilstm", "layers": 7, "hidden_channels": 16},
        # The Row LSTM of the paper's MNIST table (80.54 nats), at the Diagonal BiLSTM's sizes.
        "paper-row": {"variant": "row_lstm", "layers": 7, "hidden_channels": 16},
        # The cpu networks, for the 2-hour mnist-full curves of the reproduction table.
        "full": {"variant": "diagonal_bilstm", "layers": 2, "hidden_channels": 8},
        "full-row": {"variant": "row_lstm", "layers": 2, "hidden_channels": 8},
    }
    recipes: ClassVar[dict[str, dict[str, Any]]] = {
        # About 0.4 s a step at batch 32 on one CPU core (28x28): 1,500 steps take some 10 minutes.
        # Samples only at the end: the reference sampler makes one forward pass per pixel.
        "cpu": {"steps": 1500, "batch_size": 32, "sample_every": 0, "num_samples": 16},
        # 2 hours on the 2-core machine, from step times measured on mnist-full (one thread, another run
        # beside it, 2026-12-01): Diagonal BiLSTM 0.21 s, Row LSTM 0.06 s a step at batch 32.
        "full": full_mnist_recipe(
            30_000, batch_size=32, max_minutes=120.0, snapshot_every=3000, num_samples=16
        ),
        "full-row": full_mnist_recipe(
            100_000, batch_size=32, max_minutes=120.0, snapshot_every=10_000, num_samples=16
        ),
        # For an accelerator: the paper's networks on mnist-full until validation stops improving.
        "paper": full_mnist_recipe(
            200_000, batch_size=32, max_minutes=0.0, snapshot_every=10_000, patience=10, val_every=2000
        ),
        "paper-row": full_mnist_recipe(
            200_000, batch_size=32, max_minutes=0.0, snapshot_every=10_000, patience=10, val_every=2000
        ),
    }

    def __init__(self, config: PixelRNNConfig) -> None:
        super().__init__(config)
        colours = config.image_shape[0]
        if config.layers < 1:
            raise ValueError(f"layers must be >= 1, got {config.layers}")
        if config.hidden_channels % colours:
            raise ValueError(
                f"hidden_channels ({config.hidden_channels}) must split evenly over the {colours} colours"
            )
        # The Row LSTM's context is a triangle (module docstring); the Diagonal BiLSTM's the full past.
        self.has_full_context = config.variant == "diagonal_bilstm"
        channels = 2 * config.hidden_channels
        per_channel = 1 if config.levels == 2 else config.levels
        self.input_conv = MaskedConv2d(colours, channels, 7, "A", colours)
        layer = LAYERS[config.variant]
        self.lstm_layers = nn.ModuleList(
            layer(channels, config.hidden_channels, colours, config.num_classes) for _ in range(config.layers)
        )
        self.output_head = nn.Sequential(
            nn.ReLU(),
            MaskedConv2d(channels, channels, 1, "B", colours),
            nn.ReLU(),
            MaskedConv2d(channels, colours * per_channel, 1, "B", colours),  # colour blocks of `levels`
        )

    def logits(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        stream = self.input_conv(x)
        for layer in self.lstm_layers:
            stream = layer(stream, x, y)
        logits = self.output_head(stream)
        if self.config.levels > 2:  # [B, C·L, H, W] -> [B, L, C, H, W]
            logits = logits.unflatten(1, (self.config.image_shape[0], self.config.levels)).transpose(1, 2)
        return logits
