from genmodels.models.adversarial import cyclegan, dcgan, gan, infogan, progan, puzzlegan, stargan, text2image  # noqa: F401  (registers the models)
