from genmodels.models.latent import aae, categorical_aae, vae  # noqa: F401  (registers the models)
