"""Exception hierarchy. Every error iongrad raises on bad input derives from
:class:`IongradError`, itself a ``ValueError``."""

from __future__ import annotations


class IongradError(ValueError):
    """Base class of all iongrad input and configuration errors."""


class ModelInputError(IongradError):
    """A forward model was called with an invalid argument (value, unit or shape)."""


class DataError(IongradError):
    """A dataset (CSV + JSON sidecar) is malformed; the message names file, row and column."""


class ConfigError(IongradError):
    """A TOML workflow configuration is invalid; the message names the key and value."""
