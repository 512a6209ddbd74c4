"""PixelRNN's receptive fields, checked with gradients: the Row LSTM reads exactly the triangle
derived in its docstring, the Diagonal BiLSTM every earlier pixel and nothing later; the skew and
the shift of the right-to-left direction do what they are there for; the density is normalised,
survives a save and load, and training lowers the NLL."""

import itertools
import math

import pytest
import torch

import genmodels
from genmodels.io import save_model
from genmodels.models.autoregressive.pixelrnn import DiagonalBiLSTM, skew, unskew  # registers "pixelrnn"
from tests.conftest import train_on_digits

VARIANTS = ["row_lstm", "diagonal_bilstm"]


def make(variant, image_shape, levels=2, layers=2, hidden_channels=None, seed=0, **extra):
    # 4 state features per colour: enough that no output's ReLUs are all dead at once by chance.
    hidden_channels = hidden_channels or 4 * image_shape[0]
    torch.manual_seed(seed)
    model = genmodels.create(
        "pixelrnn",
        image_shape=image_shape,
        levels=levels,
        variant=variant,
        layers=layers,
        hidden_channels=hidden_channels,
        **extra,
    )
    with torch.no_grad():  # random weights everywhere, so that no connection is zero by chance
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.5)
    return model.eval()


def dependencies(model, batch=4):
    """depends[c, h, w] is the [C, H, W] map of the inputs that output (c, h, w) reads, by gradients."""
    shape = model.config.image_shape
    x = torch.rand(batch, *shape, requires_grad=True)
    logits = model.logits(x)
    depends = torch.zeros(*shape, *shape, dtype=torch.bool)
    for c, h, w in itertools.product(*map(range, shape)):
        (gradient,) = torch.autograd.grad(logits[..., c, h, w].sum(), x, retain_graph=True)
        depends[c, h, w] = gradient.abs().sum(0) > 0
    return depends


def raster_past(shape):
    """past[c, h, w] is the map of the positions before (h, w, c) in raster order, R -> G -> B."""
    channels, height, width = shape
    rank = torch.arange(math.prod(shape)).view(height, width, channels).permute(2, 0, 1)
    return rank.view(*shape, 1, 1, 1) > rank.view(1, 1, 1, *shape)


def differences(depends, expected, limit=5):
    """The first (output, input) pairs where the dependency maps differ, for the failure message."""
    pairs = (depends != expected).nonzero().tolist()[:limit]
    return [(tuple(p[:3]), tuple(p[3:]), "read" if depends[tuple(p)] else "not read") for p in pairs]


def reads_the_future(depends):
    return (depends & ~raster_past(depends.shape[:3])).any().item()


# -- causality -----------------------------------------------------------------------------------
@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize(("image_shape", "levels"), [((1, 5, 5), 2), ((3, 4, 4), 4)])
def test_no_output_reads_its_own_or_a_later_input(variant, image_shape, levels):
    depends = dependencies(make(variant, image_shape, levels))
    assert depends.any()
    assert not reads_the_future(depends)


@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("image_shape", [(1, 5, 5), (3, 4, 4), (1, 4, 9)])
def test_diagonal_bilstm_reads_every_earlier_input(image_shape, layers):
    model = make("diagonal_bilstm", image_shape, layers=layers)
    assert model.has_full_context
    depends, past = dependencies(model), raster_past(image_shape)
    assert torch.equal(depends, past), differences(depends, past)


def test_paper_diagonal_bilstm_misses_the_last_pixel_of_the_previous_row():
    """Why the right-to-left direction also reads the image: without it (the paper's layer), output
    (r, j) never sees x(r − 1, W − 1) when j < W − 4, however many layers (module docstring)."""
    shape = (1, 5, 7)
    model = make("diagonal_bilstm", shape, layers=3)
    with torch.no_grad():
        for layer in model.lstm_layers:
            layer.image_to_state.weight.zero_()
    missing = raster_past(shape) & ~dependencies(model)
    expected = torch.zeros_like(missing)
    for row, column in itertools.product(range(1, 5), range(7 - 4)):
        expected[0, row, column, 0, row - 1, 6] = True
    assert torch.equal(missing, expected), differences(missing, expected)


def test_without_the_shift_the_right_to_left_direction_reads_the_future():
    model = make("diagonal_bilstm", (1, 5, 5), layers=1)
    for layer in model.lstm_layers:
        assert isinstance(layer, DiagonalBiLSTM)
        layer.shift_right_to_left = False
    depends = dependencies(model)
    assert reads_the_future(depends)
    assert depends[0, 2, 1, 0, 2, 2]  # the pixel to the right, through the unshifted right-to-left LSTM
    assert depends[0, 2, 1, 0, 2, 1]  # and the pixel itself (its image_to_state is unmasked)


# -- the Row LSTM's triangle -----------------------------------------------------------------------
def row_lstm_triangle(shape, layers):
    """The context derived in the module docstring: output (r, j) reads x(r − a, j − d) for
    a = 0, 1 ≤ d ≤ L + 3, and a ≥ 1, −(a + 2) ≤ d ≤ a + L + 3; all the colours of those pixels and
    the earlier colours of the pixel itself."""
    context = torch.zeros(*shape, *shape, dtype=torch.bool)
    for c, r, j, c_in, r_in, j_in in itertools.product(*map(range, (*shape, *shape))):
        a, d = r - r_in, j - j_in
        if a == 0:
            inside = 1 <= d <= layers + 3 or (d == 0 and c_in < c)
        else:
            inside = a >= 1 and -(a + 2) <= d <= a + layers + 3
        context[c, r, j, c_in, r_in, j_in] = inside
    return context


@pytest.mark.parametrize(("image_shape", "layers"), [((1, 6, 12), 1), ((1, 6, 12), 2), ((3, 3, 8), 2)])
def test_row_lstm_reads_exactly_its_triangle(image_shape, layers):
    model = make("row_lstm", image_shape, layers=layers)
    assert not model.has_full_context
    depends = dependencies(model)
    expected = row_lstm_triangle(image_shape, layers)
    assert torch.equal(depends, expected), differences(depends, expected)
    assert (raster_past(image_shape) & ~depends).any()  # a real restriction, not the full past


# -- the skew ----------------------------------------------------------------------------------------
def test_skew_shifts_row_r_right_by_r_and_unskew_inverts_it():
    x = torch.arange(1, 2 * 3 * 4 * 5 + 1, dtype=torch.float32).view(2, 3, 4, 5)
    skewed = skew(x)
    assert skewed.shape == (2, 3, 4, 5 + 4 - 1)
    for r in range(4):
        assert torch.equal(skewed[..., r, r : r + 5], x[..., r, :])
        outside = torch.cat([skewed[..., r, :r], skewed[..., r, r + 5 :]], dim=-1)
        assert (outside == 0).all()
    assert torch.equal(unskew(skewed, 5), x)
    assert torch.equal(unskew(skew(x.transpose(-1, -2)), 4), x.transpose(-1, -2))  # taller than wide


# -- the density -------------------------------------------------------------------------------------
@pytest.mark.parametrize("variant", VARIANTS)
def test_probabilities_of_all_2x3_binary_images_sum_to_one(variant):
    model = make(variant, (1, 2, 3))
    images = torch.tensor(list(itertools.product((0.0, 1.0), repeat=6))).view(-1, 1, 2, 3)
    with torch.no_grad():
        total = torch.logsumexp(model.log_prob(images), 0).exp().item()
    assert abs(total - 1.0) < 1e-5


@pytest.mark.parametrize("variant", VARIANTS)
def test_saved_and_loaded_model_gives_the_same_log_prob(variant, tmp_path):
    model = make(variant, (3, 4, 4), levels=4, num_classes=2)
    x = torch.randint(0, 4, (5, 3, 4, 4)).float() / 3
    y = torch.tensor([0, 1, 1, 0, 1])
    loaded = genmodels.load(save_model(model, tmp_path / "model"))
    assert loaded.config == model.config
    with torch.no_grad():
        assert torch.equal(loaded.log_prob(x, y), model.log_prob(x, y))


def test_hidden_channels_must_split_over_the_colours():
    with pytest.raises(ValueError, match="colours"):
        genmodels.create("pixelrnn", image_shape=(3, 4, 4), hidden_channels=4)


# -- training ------------------------------------------------------------------------------------------
def test_a_short_training_run_lowers_the_nll(tmp_path):
    config = {"variant": "diagonal_bilstm", "layers": 1, "hidden_channels": 8, "lr": 3e-3}
    nll = train_on_digits("pixelrnn", config, tmp_path, steps=40, batch_size=50)
    first, last = nll[0], nll[-1]
    assert last < first - 3.0, (first, last)
