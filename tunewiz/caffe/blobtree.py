"""Messages that carry blobs, split into "everything but the blobs" + the blobs.

Reading: the records of a message are walked (``tunewiz.caffe.wire``); blob
fields are decoded into numpy (:func:`tunewiz.caffe.blobs.decode_blob`), fields
that hold messages with blobs are walked recursively, and all other records are
kept as bytes, which ``caffe_pb2`` then parses — a small message, because the
blobs are cut out.  The blobs come back as a :class:`BlobTree` that mirrors the
message: ``tree.blobs`` for the message's own blob field, ``tree.children[n][k]``
for the k-th entry of its field number n.

Writing does the reverse: the message (without blobs) is serialized by
protobuf (fields in number order, like Caffe's C++) and the encoded blobs are
spliced in before the first field numbered above the blob field, so the result
is laid out exactly as Caffe writes it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from tunewiz.caffe.blobs import Blob, decode_blob, encode_blob
from tunewiz.caffe.wire import LEN, Chunks, Source, encode_key, encode_varint, fields

BLOB = "BlobProto"

# message -> {field number: BLOB or the name of a message that (may) hold blobs}
SCHEMA: dict[str, dict[int, str]] = {
    "NetParameter": {100: "LayerParameter", 2: "V1LayerParameter"},
    "LayerParameter": {7: BLOB},
    "V1LayerParameter": {6: BLOB, 1: "V0LayerParameter"},
    "V0LayerParameter": {50: BLOB},
    "SolverState": {3: BLOB},
    "BlobProtoVector": {1: BLOB},
}


@dataclass
class BlobTree:
    """The blobs of one message and of its entries that hold blobs."""

    blobs: list[Blob] = field(default_factory=list)
    children: dict[int, list["BlobTree"]] = field(default_factory=dict)

    def child(self, number: int, index: int) -> "BlobTree":
        entries = self.children.get(number, [])
        return entries[index] if index < len(entries) else BlobTree()


def _blob_field(name: str) -> int | None:
    return next((n for n, kind in SCHEMA.get(name, {}).items() if kind == BLOB), None)


def decode_tree(src: Source, start: int, end: int, name: str) -> tuple[bytes, BlobTree]:
    """Split the message ``name`` stored at ``start``..``end`` into its bytes without blobs + blobs."""
    rules = SCHEMA.get(name, {})
    tree = BlobTree()
    parts: list[bytes] = []
    for f in fields(src, start, end):
        kind = rules.get(f.number)
        if kind is None or f.wire_type != LEN:
            parts.append(src.read(f.start, f.end - f.start))
        elif kind == BLOB:
            tree.blobs.append(decode_blob(src, f.value_start, f.end))
        else:
            body, sub = decode_tree(src, f.value_start, f.end, kind)
            parts.append(encode_key(f.number, LEN) + encode_varint(len(body)) + body)
            tree.children.setdefault(f.number, []).append(sub)
    return b"".join(parts), tree


def encode_tree(body: bytes, name: str, tree: BlobTree) -> Chunks:
    """``body`` (a serialized message without blobs) with the blobs of ``tree`` put back."""
    rules = SCHEMA.get(name, {})
    blob_field = _blob_field(name)
    out = Chunks()
    pending = bool(tree.blobs)
    seen: dict[int, int] = {}
    for f in fields(Source.of_bytes(body), 0, len(body)):
        if pending and f.number > blob_field:
            _add_blobs(out, blob_field, tree.blobs)
            pending = False
        kind = rules.get(f.number)
        if kind is None or kind == BLOB or f.wire_type != LEN:
            out.add(body[f.start:f.end])
            continue
        index = seen.get(f.number, 0)
        seen[f.number] = index + 1
        out.add_len_field(f.number, encode_tree(body[f.value_start:f.end], kind, tree.child(f.number, index)))
    if pending:
        _add_blobs(out, blob_field, tree.blobs)
    return out


def _add_blobs(out: Chunks, number: int, blobs: list[Blob]) -> None:
    for blob in blobs:
        out.add_len_field(number, encode_blob(blob))
