"""The explicit autoregressive models; importing this package registers them."""

from genmodels.models.autoregressive import fvsbn, independent, made, markov, nade, pixelcnn, pixelrnn  # noqa: F401
