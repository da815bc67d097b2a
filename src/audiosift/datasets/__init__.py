"""Datasets for evaluation: ``open_dataset`` turns a hub id, class folders, a manifest or table files
into labelled examples (see :mod:`audiosift.datasets.sources`). ``datasets`` is imported only when a
hub id or table files are opened."""

from audiosift.datasets.sources import DatasetOptions, Example, OpenedDataset, open_dataset

__all__ = ["DatasetOptions", "Example", "OpenedDataset", "open_dataset"]
