"""Pixel likelihoods: normalised, and their samplers draw from the distribution they score."""

import torch

from genmodels.models.distributions import Bernoulli, Categorical


def test_categorical_sampler_matches_its_probabilities():
    logits = torch.tensor([0.0, 1.0, 2.0, -1.0]).view(1, 4, 1, 1, 1).expand(40000, 4, 1, 1, 1)
    draws = Categorical(4).sample(logits, generator=torch.Generator().manual_seed(0))
    levels = (draws.flatten() * 3).round().long()
    frequencies = torch.bincount(levels, minlength=4).float() / len(levels)
    torch.testing.assert_close(frequencies, logits[0].flatten().softmax(0), atol=0.01, rtol=0)


def test_bernoulli_sampler_and_normalisation():
    logits = torch.full((40000, 1, 1, 1), 0.8)
    draws = Bernoulli().sample(logits, generator=torch.Generator().manual_seed(0))
    assert abs(draws.mean().item() - torch.sigmoid(torch.tensor(0.8)).item()) < 0.01
    x = torch.tensor([0.0, 1.0]).view(2, 1, 1, 1)
    assert abs(Bernoulli().log_prob(logits[:2], x).exp().sum().item() - 1) < 1e-6
    levels = torch.arange(5).float().view(5, 1, 1, 1) / 4
    cat_logits = torch.randn(1, 5, 1, 1, 1).expand(5, 5, 1, 1, 1)
    assert abs(Categorical(5).log_prob(cat_logits, levels).exp().sum().item() - 1) < 1e-5
