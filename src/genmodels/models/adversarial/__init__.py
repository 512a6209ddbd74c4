from genmodels.models.adversarial import dcgan, gan, infogan, progan, puzzlegan, text2image  # noqa: F401  (registers the models)
