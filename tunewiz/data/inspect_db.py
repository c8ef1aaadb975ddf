"""What a Datum database holds, for ``tunewiz inspect DB``: records, classes, shapes, encoding.

``describe_db(path)`` walks every record (labels and raw shapes come from the Datum header;
encoded records are decoded for their shape only for the first ``decode_limit`` of them).
A database without records is reported as empty (``problem``), never as a usable one: it is what an
interrupted or failed conversion leaves, and a Data layer cannot read it.
"""
from __future__ import annotations

from collections import Counter

from tunewiz.data.datum import DatumError, decode_bytes, parse_datum
from tunewiz.data.db import DBReader


def describe_db(path: str, backend: str | None = None, decode_limit: int = 200) -> dict:
    """records, classes {label: count}, shapes {"CxHxW": count}, encoded/raw counts, backend, keys."""
    labels: Counter = Counter()
    shapes: Counter = Counter()
    encoded = raw = 0
    decoded = 0
    first_key = last_key = None
    with DBReader(path, backend) as reader:
        backend_name = reader.backend
        for key, value in reader:
            first_key = first_key if first_key is not None else key
            last_key = key
            try:
                datum = parse_datum(value, key)
            except DatumError as exc:
                raise DatumError(f"{path}: {exc}") from None
            labels[int(datum.label)] += 1
            if datum.encoded:
                encoded += 1
                if decoded < decode_limit:
                    decoded += 1
                    arr = decode_bytes(datum.data, "native")
                    shapes["undecodable" if arr is None else "x".join(map(str, arr.shape))] += 1
            else:
                raw += 1
                shapes[f"{datum.channels}x{datum.height}x{datum.width}"] += 1
    report = {
        "backend": backend_name,
        "records": encoded + raw,
        "classes": {str(k): v for k, v in sorted(labels.items())},
        "num_classes": len(labels),
        "shapes": dict(shapes.most_common()),
        "shapes_sampled": decoded < encoded,
        "encoded": encoded,
        "raw": raw,
        "first_key": _text(first_key),
        "last_key": _text(last_key),
    }
    if not report["records"]:
        report["problem"] = ("the database is empty (0 records): a Data layer cannot read it; it is what an "
                             "interrupted or failed conversion leaves: remove it and convert the images again")
    return report


def _text(key: bytes | None) -> str | None:
    return None if key is None else key.decode("utf-8", "replace")


def format_db(report: dict) -> list[str]:
    """Lines for the terminal."""
    if report.get("problem"):
        return [f"{report.get('file', '')}: {report['backend'].upper()} database, EMPTY: {report['problem']}."]
    lines = [f"{report.get('file', '')}: {report['backend'].upper()} database, {report['records']} records "
             f"({report['raw']} raw, {report['encoded']} encoded)"]
    sampled = f" (first {sum(report['shapes'].values())} encoded records decoded)" if report["shapes_sampled"] else ""
    lines.append("  shapes (CxHxW): " + ", ".join(f"{s} x{n}" for s, n in report["shapes"].items()) + sampled)
    lines.append(f"  classes: {report['num_classes']}  (label: records) "
                 + ", ".join(f"{k}: {v}" for k, v in report["classes"].items()))
    if report["records"]:
        lines.append(f"  keys: {report['first_key']} ... {report['last_key']}")
    return lines
