from genmodels.models.adversarial import dcgan, gan, infogan  # noqa: F401  (registers the models)
