"""The artifact store: content-keyed blobs on diskcache, data-only formats, every read verified."""

from .artifacts import ArtifactStore, Fetched, Writer, Written
from .blobs import Blobs, DiskcacheBlobs, MemoryBlobs
from .formats import kind_of
from .namespaces import NamespacedBlobs, open_artifacts

__all__ = ["ArtifactStore", "Fetched", "Writer", "Written", "Blobs", "DiskcacheBlobs", "MemoryBlobs", "NamespacedBlobs",
           "kind_of", "open_artifacts"]
