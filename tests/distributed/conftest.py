"""Fixture datasets (built once per session) and an isolated datasets cache: see tests/dataset_factory.py."""

from dataset_factory import fixture_datasets, isolated_datasets_cache  # noqa: F401
