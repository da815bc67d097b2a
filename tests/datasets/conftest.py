"""Fixture datasets (built once per session) and an isolated datasets cache: see tests/dataset_factory.py."""

from dataset_factory import fixture_datasets, isolated_datasets_cache  # noqa: F401

import pytest  # noqa: E402


@pytest.fixture
def real_hub_check():
    """Ask for this to keep the hub pre-flight check of tables.py (stood in for otherwise, below)."""


@pytest.fixture(autouse=True)
def hub_dataset_exists(request, monkeypatch):
    """Tests here stand in for ``datasets.load_dataset``; the hub pre-flight check (which would find
    their made-up ids neither cached nor reachable offline) stands aside for them too."""
    if "real_hub_check" in request.fixturenames:
        return
    from audiosift.datasets import tables

    monkeypatch.setattr(tables, "check_hub_dataset", lambda source, options: None)
