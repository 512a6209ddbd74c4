from genmodels.models.latent import vae  # noqa: F401  (registers the model)
