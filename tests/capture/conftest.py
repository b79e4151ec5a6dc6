import pytest


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> str:
    """A folder with the tiny random model (what `--model` takes), saved once per session."""
    from v2v.models.bundle import random_bundle, save_bundle

    folder = tmp_path_factory.mktemp("tiny_model")
    save_bundle(random_bundle(seed=0), folder)
    return str(folder)
