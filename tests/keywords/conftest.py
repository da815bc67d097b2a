import pytest

import audiosift


@pytest.fixture(scope="module")
def wake_words():
    """openWakeWord's pre-trained words: a real listener for the training synthesizers' speech."""
    return audiosift.load("wake-word").backend
