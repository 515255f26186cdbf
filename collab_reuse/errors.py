"""Exceptions of collab_reuse.

Two families: ``Unreusable`` says why one operation runs plainly (never raised into
a user's cell), ``StoreError`` says the store cannot serve (the session stops
reusing and tells the user once).
Wrong magic arguments raise IPython's ``UsageError`` (kernel/magics.py), which IPython shows as
a one-line error.
"""


class CollabReuseError(Exception):
    """Base class of every error collab_reuse raises on purpose."""


class Unreusable(CollabReuseError):
    """An operation can't be identified or stored; it runs plainly. The message says why."""


class Impure(Unreusable):
    """The operation runs notebook code (a callback, a transformer's method) with an effect that a
    reuse would skip: it runs plainly, and so does every notebook call around it."""


class StoreError(CollabReuseError):
    """The store can't be read or written (missing, full, incompatible, unwritable)."""


class CorruptArtifact(StoreError):
    """A stored object failed its checks (content key, manifest binding, allow-list, validation)
    or is incomplete: recompute, never serve it."""


class IncompatibleStore(StoreError):
    """The store was written in another format version (older or newer code): it is not read."""

