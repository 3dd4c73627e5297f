"""The errors a store raises for a user to read: each message names the store and says what to do.

StoreError: a store that cannot be used as asked (another sweep in it, held by another run, damaged
metadata, another environment, ...). StorageFailure: the storage environment failed (a full disk, a
read-only mount, no permission, an unreachable object store); nothing of the store was lost, and a rerun once
the cause is removed resumes it.
"""


class StoreError(Exception):
    """A store that cannot be used as asked; the message says why and what to do."""


class StorageFailure(StoreError):
    """The storage environment failed (see sweep.store.location.environment_failure)."""
