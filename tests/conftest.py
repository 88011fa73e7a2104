"""Shared pytest setup: quiet TensorFlow's C++ start-up logging in test output, and the one way
tests import a paper folder's modules."""
import os

import pytest

from nasrepro.paper_modules import load_paper_module

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def paper_module():
    """load_paper_module: a paper folder's module, e.g. paper_module("NAO-V2", "model")."""
    return load_paper_module
