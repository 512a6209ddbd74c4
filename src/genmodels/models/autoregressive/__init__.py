"""The explicit autoregressive models; importing this package registers them."""

from genmodels.models.autoregressive import fvsbn, independent, markov, pixelcnn, pixelrnn  # noqa: F401
