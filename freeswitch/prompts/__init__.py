"""The default ACD prompt set: a manifest of every sound file the shipped phrase macros play
(``manifest.toml``) and a generator that speaks it with espeak-ng (``generate.py``)."""
