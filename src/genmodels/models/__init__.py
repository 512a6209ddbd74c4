"""Every model; importing this package registers them all with `genmodels.registry`."""

from genmodels.models import autoregressive, latent  # noqa: F401
