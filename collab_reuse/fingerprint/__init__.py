"""Stable digests of values, files and functions: the identity half of reuse.

Nothing here knows about the store or the tracer; everything is deterministic
across processes (golden tests pin it) and carries ``FORMAT_VERSION``.
"""

from .digest import FORMAT_VERSION, Encoder, digest_parts
from .files import FileFingerprints
from .values import content_digest

__all__ = ["FORMAT_VERSION", "Encoder", "digest_parts", "FileFingerprints", "content_digest"]
