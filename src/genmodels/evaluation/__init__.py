"""Evaluation on equal footing: likelihoods now; sample quality, anomaly detection and Bayes
classification build on the same per-image scores."""

from genmodels.evaluation.likelihood import evaluate_likelihood, per_image_log_prob

__all__ = ["evaluate_likelihood", "per_image_log_prob"]
