from genmodels.models.adversarial import dcgan, gan  # noqa: F401  (registers the models)
