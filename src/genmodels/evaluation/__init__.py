"""Evaluation on equal footing: likelihoods, sample quality in a feature space, and the uses of
densities (anomaly detection, Bayes classification) built on the same per-image scores."""

from genmodels.evaluation.likelihood import evaluate_likelihood, per_image_log_prob
from genmodels.evaluation.sample_quality import sample_quality

__all__ = ["evaluate_likelihood", "per_image_log_prob", "sample_quality"]
