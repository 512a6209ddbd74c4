"""Every model; importing this package registers them all with `genmodels.registry`."""

from genmodels.models import adversarial, autoregressive, classifier, latent  # noqa: F401
