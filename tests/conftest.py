import os

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    """Tests never read or write the user's cache (and prove the embedded data need no download)."""
    os.environ["GENMODELS_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    torch.set_num_threads(2)


TINY_VAE = {"hidden": (32,), "latent_dim": 4, "iw_samples": 20}
