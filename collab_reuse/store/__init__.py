"""The artifact store: content-addressed blobs on diskcache, columnar formats, checksums."""

from .artifacts import ArtifactStore, Written
from .blobs import Blobs, DiskcacheBlobs, MemoryBlobs
from .formats import kind_of

__all__ = ["ArtifactStore", "Written", "Blobs", "DiskcacheBlobs", "MemoryBlobs", "kind_of"]
