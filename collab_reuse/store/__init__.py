"""The artifact store: content-keyed blobs on diskcache, data-only formats, every read verified."""

from .artifacts import ArtifactStore, Writer, Written
from .blobs import Blobs, DiskcacheBlobs, MemoryBlobs
from .formats import kind_of

__all__ = ["ArtifactStore", "Writer", "Written", "Blobs", "DiskcacheBlobs", "MemoryBlobs", "kind_of"]
