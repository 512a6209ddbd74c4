from genmodels.models.latent import aae, vae  # noqa: F401  (registers the models)
