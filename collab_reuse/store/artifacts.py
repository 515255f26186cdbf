"""The artifact store: values in, values out, by artifact id.

An artifact is a manifest (JSON, itself a checksummed blob under ``m:<id>``)
plus the content-keyed blobs it names. Writing puts the blobs first and the
manifest last, so a reader sees a whole artifact or none; reading checks every
checksum and raises ``CorruptArtifact`` for anything damaged or missing. Which
artifacts to keep, and the byte accounting, belong to the Experiment Graph.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from ..errors import CorruptArtifact
from . import formats
from .blobs import Blobs


@dataclass
class Written:
    """What a put did: every blob the artifact uses (key -> size) and the bytes newly written."""

    blob_sizes: dict[str, int]
    bytes_written: int
    seconds: float


class ArtifactStore:
    """Encode/decode artifacts over a ``Blobs`` backend."""

    def __init__(self, blobs: Blobs, trust_pickle: bool = True):
        self.blobs = blobs
        self.trust_pickle = trust_pickle

    @staticmethod
    def manifest_key(artifact_id: str) -> str:
        return f"m:{artifact_id}"

    def encode(self, value: Any, verify: bool = True) -> formats.Encoded:
        """Encode (and by default prove the encoding faithful); raises Unreusable otherwise."""
        encoded = formats.encode(value, self.trust_pickle)
        if verify and not formats.faithful_by_construction(value):
            back = formats.decode(encoded.manifest, lambda k: encoded.blobs[k], self.trust_pickle)
            formats.verify_roundtrip(value, back)
        return encoded

    def put(self, artifact_id: str, encoded: formats.Encoded, extra: dict | None = None) -> Written:
        """Write blobs, then the manifest. ``extra`` rides along (replayed output, RNG state)."""
        start = time.perf_counter()
        written = 0
        sizes: dict[str, int] = {}
        for key, data in encoded.blobs.items():
            written += self.blobs.put(key, data)
            sizes[key] = len(data)
        body = json.dumps({**encoded.manifest, "extra": extra or {}}).encode()
        mkey = self.manifest_key(artifact_id)
        self.blobs.delete(mkey)
        written += self.blobs.put(mkey, body)
        sizes[mkey] = len(body)
        return Written(sizes, written, time.perf_counter() - start)

    def manifest(self, artifact_id: str) -> dict:
        try:
            return json.loads(bytes(self.blobs.get(self.manifest_key(artifact_id))))
        except KeyError:
            raise
        except (ValueError, UnicodeDecodeError) as exc:
            raise CorruptArtifact(f"manifest of {artifact_id[:12]} is not JSON: {exc}") from None

    def get(self, artifact_id: str) -> tuple[Any, dict, int]:
        """(value, extra, bytes read); KeyError if absent, CorruptArtifact if damaged."""
        manifest = self.manifest(artifact_id)
        read = 0

        def get_blob(key: str) -> bytes:
            nonlocal read
            try:
                data = self.blobs.get(key)
            except KeyError:
                raise CorruptArtifact(f"artifact {artifact_id[:12]} lost its blob {key[:12]}") from None
            read += len(data)
            return data

        try:
            value = formats.decode(manifest, get_blob, self.trust_pickle)
        except CorruptArtifact:
            raise
        except Exception as exc:  # a decoder choking on bytes that passed their checksum
            raise CorruptArtifact(f"artifact {artifact_id[:12]} can't be decoded: {exc}") from None
        return value, manifest.get("extra", {}), read

    def delete(self, artifact_id: str) -> None:
        self.blobs.delete(self.manifest_key(artifact_id))
