"""Loading models quietly: transformers' "Loading weights" bars, its advice and the feature
extractors' mel-filter warnings are noise to someone classifying audio, so audiosift's load paths
hide them unless asked. Verbose means the ``audiosift`` logger is enabled for INFO (the standard
logging levels: ``logging.getLogger("audiosift").setLevel(logging.INFO)``, or ``--verbose`` in the
CLI); then transformers speaks as it would on its own (at DEBUG, its INFO messages too).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import warnings
from collections.abc import Iterator

LOGGER = logging.getLogger("audiosift")
# Empty mel filters in some models' own configs (AST): harmless, warned at every load.
NOISY_WARNINGS = ("At least one mel filter has all zero values",)


def verbose() -> bool:
    return LOGGER.isEnabledFor(logging.INFO)


@contextlib.contextmanager
def quiet_loading() -> Iterator[None]:
    """Within: transformers' progress bars off, its logging at errors only, the known load
    warnings hidden (when :func:`verbose`: bars on, logging at INFO); each restored after, so the
    caller's own settings stand."""
    from transformers.utils import logging as hf_logging

    loud = verbose()
    level, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    # verbose: as loud as transformers is by itself (warnings, bars), even where the CLI quietened it at
    # import; the audiosift logger at DEBUG: transformers' INFO too (every config it reads)
    hf_logging.set_verbosity((logging.INFO if LOGGER.isEnabledFor(logging.DEBUG) else logging.WARNING)
                             if loud else logging.ERROR)
    (hf_logging.enable_progress_bar if loud else hf_logging.disable_progress_bar)()
    try:
        with warnings.catch_warnings():
            for message in () if loud else NOISY_WARNINGS:
                warnings.filterwarnings("ignore", message=message)
            yield
    finally:
        hf_logging.set_verbosity(level)
        (hf_logging.enable_progress_bar if bars else hf_logging.disable_progress_bar)()


def quietly(function):
    """Decorator: run ``function`` inside :func:`quiet_loading`."""
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with quiet_loading():
            return function(*args, **kwargs)

    return wrapper
