import pytest
import torch

from mmalign.data import load_digits_av

TINY_DATA = dict(n_train=24, n_valid=8, n_test=8, n_digits=2)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny digits-av (24 / 8 / 8 samples, 2 digits), built once per test module."""
    torch.set_num_threads(1)
    return load_digits_av(cache_dir=tmp_path_factory.mktemp("cache"), **TINY_DATA)
