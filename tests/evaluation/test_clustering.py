"""Codes matched to classes: the confusion matrix, one-to-one (Hungarian) and many-to-one (majority)."""

import pytest
import torch

from genmodels.evaluation.clustering import confusion_matrix, hungarian_accuracy, majority_accuracy


def test_a_relabelling_is_recovered_one_to_one():
    labels = torch.arange(100) % 4
    codes = (labels + 1) % 4  # the same partition under other names
    confusion = confusion_matrix(codes, labels, 4, 4)
    assert confusion.sum() == 100 and confusion[1, 0] == 25
    result = hungarian_accuracy(confusion)
    assert result["accuracy"] == 1.0 and result["matching"] == {0: 3, 1: 0, 2: 1, 3: 2}


def test_one_to_one_cannot_give_two_codes_one_class_but_majority_can():
    # Two codes split class 0; class 1 has its own code. One-to-one must leave one of the two
    # codes unmatched (its 30 images wrong); majority voting labels both with class 0.
    labels = torch.tensor([0] * 60 + [1] * 40)
    codes = torch.tensor([0] * 30 + [1] * 30 + [2] * 40)
    confusion = confusion_matrix(codes, labels, 3, 2)
    assert hungarian_accuracy(confusion)["accuracy"] == pytest.approx(0.7)
    majority = majority_accuracy(confusion)
    assert majority["accuracy"] == 1.0 and majority["matching"] == {0: 0, 1: 0, 2: 1}


def test_out_of_range_codes_or_labels_are_refused():
    with pytest.raises(ValueError, match=r"codes must lie in 0\.\.2"):
        confusion_matrix(torch.tensor([3]), torch.tensor([0]), 3, 2)
    with pytest.raises(ValueError, match=r"labels must lie in 0\.\.1"):
        confusion_matrix(torch.tensor([0]), torch.tensor([2]), 3, 2)
    with pytest.raises(ValueError, match="2 codes for 1 labels"):
        confusion_matrix(torch.tensor([0, 1]), torch.tensor([0]), 3, 2)
