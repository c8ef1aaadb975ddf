"""``tunewiz inspect FILE… [--json] [--shapes NET.prototxt [--phase TEST]]``.

Tells what each file is (by its content, :mod:`tunewiz.caffe.detect`) and what it
holds: a net (layers, types, bottoms, tops), a solver (its fields), a caffemodel
(layers, blob shapes, parameter count), a solverstate (iter, learned_net,
current_step, history shapes), a binaryproto (shape, per-channel mean).

Extending: :data:`INSPECTORS` maps a detected kind (``"lmdb"``, ``"leveldb"``, …)
to ``(inspect(path) -> dict, format(dict) -> list[str])``; add an entry with
:func:`register`.  The dict must be JSON-serializable; ``--json`` prints a list
with one such dict per FILE (keys ``file``, ``kind``, ``what`` always present).
``--shapes`` asks ``tunewiz.engine.net.shapes.describe(net_param, phase)`` (imported
only then) for the blob shapes of a net.  Exit status 1 when a report has a ``problem`` (an empty database).
"""
from __future__ import annotations

import argparse
import importlib
import json
from pathlib import Path
from typing import Callable

import numpy as np

from tunewiz.errors import TunewizError

Inspector = Callable[[Path], dict]
Formatter = Callable[[dict], list]
INSPECTORS: dict[str, tuple[Inspector, Formatter]] = {}


def register(kind: str, inspector: Inspector, formatter: Formatter | None = None) -> None:
    """Make ``tunewiz inspect`` handle files that :func:`~tunewiz.caffe.detect.detect` calls ``kind``."""
    INSPECTORS[kind] = (inspector, formatter or _generic_lines)


def add_arguments(parser: argparse.ArgumentParser, name: str = "inspect") -> None:
    parser.add_argument("files", nargs="*", metavar="FILE",
                        help="prototxt, caffemodel, solverstate, binaryproto (or a database folder)")
    parser.add_argument("--json", action="store_true",
                        help="print a JSON list, one object per FILE (keys: file, kind, what, ...)")
    parser.add_argument("--shapes", metavar="NET", help="print the blob shapes of this net prototxt")
    parser.add_argument("--phase", choices=("TRAIN", "TEST"), default="TRAIN",
                        help="phase for --shapes (default TRAIN)")


def run(args: argparse.Namespace) -> int:
    if not args.files and not args.shapes:
        raise TunewizError("inspect: give at least one FILE (or --shapes NET.prototxt)")
    if "" in args.files:
        raise TunewizError("inspect: an empty file name was given")
    reports = [inspect_path(Path(f)) for f in args.files]
    if args.shapes:
        reports.append(_shapes(Path(args.shapes), args.phase))
    if args.json:
        print(json.dumps(reports, indent=2, default=_plain))
        return int(any(r.get("problem") for r in reports))  # an empty database: 1
    for i, report in enumerate(reports):
        if i:
            print()
        kind = report["kind"]
        formatter = _shapes_lines if kind == "shapes" else INSPECTORS.get(kind, (None, _generic_lines))[1]
        print("\n".join(formatter(report)))
    return int(any(r.get("problem") for r in reports))


def inspect_path(path: Path) -> dict:
    """The report for one file; TunewizError (one line) when it cannot be inspected."""
    from tunewiz.caffe.detect import detect

    info = detect(path)
    entry = INSPECTORS.get(info.kind)
    if entry is None:
        if info.kind in ("lmdb", "leveldb"):
            raise TunewizError(f"{path}: this is {info.describe()}; inspecting databases is not available yet")
        if info.kind == "text" and "does not parse as a " in info.detail:
            _raise_parse_error(path, "solver" if "as a solver" in info.detail else "net")
        raise TunewizError(f"{path}: cannot inspect: this is {info.describe()}")
    report = {"file": str(path), "kind": info.kind, "what": info.describe()}
    report.update(entry[0](path))
    return report


def _raise_parse_error(path: Path, what: str) -> None:
    """The prototxt reader's one-line error (file:line:column, reason, text, hint)."""
    from tunewiz.caffe import prototxt

    try:
        (prototxt.read_solver_text if what == "solver" else prototxt.read_net_text)(path)
    except prototxt.PrototxtError as exc:
        raise TunewizError(f"{exc} (read as a {what} prototxt)") from None


# ----------------------------------------------------------------------------- the kinds


def _net(path: Path) -> dict:
    from tunewiz.caffe import prototxt
    from tunewiz.caffe.upgrade import upgrade_net_param

    net = prototxt.read_net_text(path)
    stored = "V1" if len(net.layers) else "V2"
    upgrade_net_param(net, str(path))  # V0/V1 layers shown as Caffe reads them
    layers = [{"name": l.name, "type": l.type, "bottom": list(l.bottom), "top": list(l.top),
               "phase": _phases(l)} for l in net.layer]
    return {"name": net.name, "format": stored, "layers": layers}


def _phases(layer) -> str:
    names = {0: "TRAIN", 1: "TEST"}
    include = [names.get(r.phase, "?") for r in layer.include if r.HasField("phase")]
    exclude = [names.get(r.phase, "?") for r in layer.exclude if r.HasField("phase")]
    if layer.HasField("phase"):
        return names.get(layer.phase, "?")
    return "/".join(include) or ("not " + "/".join(exclude) if exclude else "")


def _solver(path: Path) -> dict:
    from tunewiz.caffe.netio import load_solver

    solver, report = load_solver(path)  # solver_type shown as Caffe reads it: type "Nesterov"
    return {"format": "old solver_type enum" if report.upgraded else "current", "fields": _fields(solver)}


def _fields(message) -> dict:
    """The set fields of ``message`` as plain JSON values (enums by name, int64 as numbers)."""
    out = {}
    for fd, value in message.ListFields():
        repeated = getattr(fd, "is_repeated", None)
        repeated = fd.label == fd.LABEL_REPEATED if repeated is None else repeated  # protobuf < 5.28
        items = list(value) if repeated else [value]
        if fd.message_type is not None:
            items = [_fields(v) for v in items]
        elif fd.enum_type is not None:
            items = [fd.enum_type.values_by_number[v].name if v in fd.enum_type.values_by_number else v
                     for v in items]
        elif fd.type == fd.TYPE_FLOAT:  # shortest text that reads back as the same float32
            items = [float(str(np.float32(v))) for v in items]
        out[fd.name] = items if repeated else items[0]
    return out


def _caffemodel(path: Path) -> dict:
    from tunewiz.caffe.caffemodel import load_weights

    weights = load_weights(path)
    layers = [{"name": l.name, "type": l.type, "blobs": [_blob_info(b) for b in l.blobs]} for l in weights.layers]
    return {"name": weights.net.name, "format": weights.format, "layers": layers, "param_count": weights.param_count}


def _blob_info(blob) -> dict:
    info = {"shape": list(blob.data.shape), "dtype": str(blob.data.dtype)}
    if blob.legacy is not None:
        info["legacy"] = list(blob.legacy)
    return info


def _solverstate(path: Path) -> dict:
    from tunewiz.caffe.solverstate import read_solverstate

    state = read_solverstate(path)
    return {"iter": state.iter, "learned_net": state.learned_net, "current_step": state.current_step,
            "learned_net_found": (Path.cwd() / state.learned_net).is_file(),
            "history": [_blob_info(b) for b in state.history]}


def _binaryproto(path: Path) -> dict:
    from tunewiz.caffe.binaryproto import channel_means, read_blob

    blob = read_blob(path)
    info = _blob_info(blob)
    data = blob.data
    info.update(count=int(data.size), channel_mean=channel_means(blob),
                min=float(data.min()) if data.size else None, max=float(data.max()) if data.size else None)
    return info


def _blobprotovector(path: Path) -> dict:
    from tunewiz.caffe.binaryproto import read_blob_vector

    return {"blobs": [_blob_info(b) for b in read_blob_vector(path)]}


def _shapes(net_path: Path, phase: str) -> dict:
    try:
        shapes = importlib.import_module("tunewiz.engine.net.shapes")
    except ModuleNotFoundError as exc:
        if exc.name in ("tunewiz.engine.net.shapes", "tunewiz.engine"):
            raise TunewizError("--shapes is not available in this build yet (needs tunewiz.engine.net.shapes)") from None
        raise
    from tunewiz.caffe.detect import expect
    from tunewiz.caffe.netio import read_net

    expect(net_path, "net")
    result = shapes.describe(read_net(net_path), phase)
    data = result.as_dict() if hasattr(result, "as_dict") else result
    return {"file": str(net_path), "kind": "shapes", "what": f"blob shapes in phase {phase}", "phase": phase,
            "shapes": data if isinstance(data, (dict, list, str)) else str(data), "table": str(result)}


# ----------------------------------------------------------------------------- text views


def _plain(value):
    """JSON for values an added inspector may return (numpy numbers and arrays, tuples, paths)."""
    return value.tolist() if hasattr(value, "tolist") else str(value)


def _dims(shape) -> str:
    return "x".join(str(d) for d in shape) if shape else "scalar"


def _table(rows: list[list[str]], indent: str = "  ") -> list[str]:
    if not rows:
        return []
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return [(indent + "  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1]).rstrip() for r in rows]


def _head(report: dict, *extra: str) -> str:
    return f"{report['file']}: {report['what']}" + "".join(f", {e}" for e in extra if e)


def _net_lines(r: dict) -> list:
    rows = [["layer", "type", "bottom -> top", "phase"]]
    rows += [[l["name"], l["type"], f"{', '.join(l['bottom']) or '-'} -> {', '.join(l['top']) or '-'}", l["phase"]]
             for l in r["layers"]]
    return [_head(r, f"name '{r['name']}'" if r["name"] else "", f"written as {r['format']}")] + _table(rows)


def _caffemodel_lines(r: dict) -> list:
    rows = [["layer", "type", "blobs"]]
    for l in r["layers"]:
        blobs = ", ".join(_dims(b["shape"]) + (f" (legacy {_dims(b['legacy'])})" if "legacy" in b and
                          b["legacy"] != b["shape"] else "") + (" float64" if b["dtype"] == "float64" else "")
                          for b in l["blobs"])
        rows.append([l["name"], l["type"], blobs or "-"])
    head = _head(r, r["format"], f"{r['param_count']:,} parameters")
    return [head] + _table(rows)


def _solverstate_lines(r: dict) -> list:
    found = "" if r["learned_net_found"] else " (not found from here; Caffe looks relative to the working directory)"
    lines = [_head(r), f"  iter: {r['iter']}", f"  learned_net: {r['learned_net']}{found}",
             f"  current_step: {r['current_step']}", f"  history: {len(r['history'])} blobs"]
    return lines + [f"    {i}: {_dims(b['shape'])}" for i, b in enumerate(r["history"])]


def _binaryproto_lines(r: dict) -> list:
    legacy = f" (legacy num/channels/height/width {_dims(r['legacy'])})" if "legacy" in r else ""
    means = ", ".join(f"[{c}] {m:.6g}" for c, m in enumerate(r["channel_mean"]))
    return [_head(r), f"  shape: {_dims(r['shape'])}{legacy}, {r['dtype']}, {r['count']} values",
            f"  per-channel mean: {means}", f"  min {r['min']:.6g}, max {r['max']:.6g}" if r["count"] else "  empty"]


def _shapes_lines(r: dict) -> list:
    return [_head(r)] + ["  " + line for line in r["table"].splitlines()]


def _solver_lines(r: dict) -> list:
    return [_head(r, f"written with the {r['format']}" if r["format"] != "current" else "")] + [f"  {k}: {json.dumps(v)}" for k, v in r["fields"].items()]


def _generic_lines(r: dict) -> list:
    lines = [_head(r)]
    for key, value in r.items():
        if key in ("file", "kind", "what"):
            continue
        if isinstance(value, str) and "\n" in value:
            lines += [f"  {key}:"] + [f"    {v}" for v in value.splitlines()]
        else:
            lines.append(f"  {key}: {value if isinstance(value, str) else json.dumps(value, default=_plain)}")
    return lines


register("net", _net, _net_lines)
register("solver", _solver, _solver_lines)
register("caffemodel", _caffemodel, _caffemodel_lines)
register("solverstate", _solverstate, _solverstate_lines)
register("binaryproto", _binaryproto, _binaryproto_lines)
register("blobprotovector", _blobprotovector)


# ----------------------------------------------------------------------------- databases (tunewiz.data hook)

def _database(path: Path) -> dict:
    from tunewiz.data.inspect_db import describe_db

    return describe_db(str(path))


def _database_lines(report: dict) -> list:
    from tunewiz.data.inspect_db import format_db

    return format_db(report)


register("lmdb", _database, _database_lines)
register("leveldb", _database, _database_lines)
