"""Custom keywords: train a wake-word detector from its text (:mod:`audiosift.keywords.train`) and
measure any detector on recordings with known keyword times (:mod:`audiosift.keywords.recordings`,
:mod:`audiosift.keywords.evaluate`). Heavy pieces (torch, the front end, matplotlib) load only
when used. docs/wake-words.md has the recipe and the measured results.
"""
