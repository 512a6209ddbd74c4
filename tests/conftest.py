import json
import os

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    """Tests never read or write the user's cache (and prove the embedded data need no download)."""
    os.environ["GENMODELS_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    # One thread: the tests are small, and on a shared 2-core machine two threads per process ran the
    # sequential models and the GANs up to 7x slower (measured while benchmarks ran beside them).
    torch.set_num_threads(1)


TINY_VAE = {"hidden": (32,), "latent_dim": 4, "iw_samples": 20}


def train_on_digits(name, config, out, *, steps, batch_size, **options):
    """A short quiet training run on the 8x8 digits; returns the logged NLL (nats), one value per row."""
    import genmodels

    quiet = {"log_every": 10, "progress": False, "tensorboard": False, "num_samples": 0}
    genmodels.train(
        name,
        "digits",
        preset=None,
        config=config,
        steps=steps,
        batch_size=batch_size,
        out=out,
        **{**quiet, **options},
    )
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [row["nll/nll"] for row in rows if "nll/nll" in row]
