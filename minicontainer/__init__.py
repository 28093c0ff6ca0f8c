"""minicontainer: a real container runtime, built one lesson at a time.

Each module is named after the step of a container's life it owns (see README.md for the map).
This file imports nothing heavy on purpose: `minicontainer run` starts in a few milliseconds.
"""

__version__ = "0.1.0"
