"""One error base for lctrace; the CLI turns these into a one-line message and an exit code."""

from __future__ import annotations


class LifecycleTraceError(Exception):
    """Base of every error lctrace raises on purpose. `exit_code` is what the CLI exits with."""

    exit_code: int = 2


class InputFormatError(LifecycleTraceError):
    """A file is not in any log or trace format lctrace knows (or not in the one forced)."""


class InputReadError(LifecycleTraceError):
    """A file could not be opened or decompressed."""


class ConfigError(LifecycleTraceError):
    """An option or `LCTRACE_*` variable holds a value lctrace cannot use."""


class CollectError(LifecycleTraceError):
    """Fetching from AWS failed in a way the user can act on (credentials, access, not found)."""
