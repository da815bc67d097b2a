"""The speech synthesizers train-keyword speaks with, and how to install each (kept free of heavy
imports: the CLI's option list reads it)."""

ENGINES = {"espeak": "apt-get install espeak-ng", "flite": "apt-get install flite",
           "piper": "pip install 'audiosift[keyword-voices]', with espeak-ng for its phonemes"}
