"""The speech synthesizers train-keyword speaks with, and how to install each (kept free of heavy
imports: the CLI's option list reads it), and the error every one of them raises."""

from audiosift.errors import AudiosiftError

ENGINES = {"espeak": "apt-get install espeak-ng", "flite": "apt-get install flite",
           "piper": "pip install 'audiosift[keyword-voices]', with espeak-ng for its phonemes",
           "gnuspeech": "Node.js, and npm install --prefix $VIRTUAL_ENV/node @echogarden/gnuspeech-wasm@0.3.0 "
                        "(scripts/setup.sh does both)",
           "pico": "pip install 'audiosift[keyword-voices]' (py-nanotts: SVOX Pico and its English voices)"}


class SynthesisError(AudiosiftError):
    """A synthesizer is missing or failed on a text."""
