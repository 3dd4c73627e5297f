"""The package's version: the installed distribution's, or `0.1.0+unknown` in a source tree never installed."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("rbm-sweep")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.1.0+unknown"
