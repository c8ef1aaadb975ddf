"""Shapes of a net without running it: every layer's top shapes and parameter counts.

``describe(net_param, phase)`` builds the net on torch's ``meta`` device (shapes only, no
memory, no fillers), so even CaffeNet takes milliseconds.  Input/DummyData shapes come from
the prototxt; Data/ImageData shapes come from their data source (the first record), as in Caffe.
``format_rows(rows)`` gives the table ``tunewiz inspect --shapes`` prints.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from tunewiz.caffe import caffe_pb2


@dataclass
class LayerRow:
    """One layer: name, type, bottoms, tops with shapes, param shapes and count."""

    name: str
    type: str
    bottoms: list[str]
    tops: list[tuple[str, tuple[int, ...]]]
    param_shapes: list[tuple[int, ...]] = field(default_factory=list)
    shared: list[bool] = field(default_factory=list)

    @property
    def params(self) -> int:
        """Parameters this layer owns (shared blobs count once, at their owner)."""
        return sum(math.prod(s) for s, sh in zip(self.param_shapes, self.shared) if not sh)


@dataclass
class ShapeReport:
    """All rows and the totals."""

    rows: list[LayerRow]
    outputs: list[str]

    def __str__(self) -> str:
        return format_rows(self)

    def as_dict(self) -> dict:
        """Plain data for JSON output."""
        return {"layers": [{"name": r.name, "type": r.type, "bottoms": r.bottoms,
                            "tops": [{"name": n, "shape": list(s)} for n, s in r.tops],
                            "param_shapes": [list(s) for s in r.param_shapes], "params": r.params}
                           for r in self.rows],
                "total_params": self.total_params, "outputs": self.outputs}

    @property
    def total_params(self) -> int:
        return sum(r.params for r in self.rows)

    @property
    def total_blob_values(self) -> int:
        """Values held by all blobs (one forward's activations; in-place tops counted once)."""
        seen: dict[str, int] = {}
        for row in self.rows:
            for name, shape in row.tops:
                seen[name] = math.prod(shape)
        return sum(seen.values())


def describe(net_param: caffe_pb2.NetParameter, phase="TEST", *, level: int = 0, stages=(),
             root=None) -> ShapeReport:
    """Top shapes and parameter counts of every layer of ``net_param`` in ``phase``."""
    from tunewiz.engine.net.net import Net

    net = Net(net_param, phase, level=level, stages=stages, device="meta", root=root)
    rows = []
    owners: set[int] = set()
    for layer, wiring in zip(net.layers, net.wirings):
        shapes, shared = [], []
        for blob in layer.blobs:
            shapes.append(tuple(int(d) for d in blob.shape))
            shared.append(id(blob) in owners)
            owners.add(id(blob))
        tops = [(t, tuple(int(d) for d in s)) for t, s in zip(wiring.tops, layer.top_shapes)]
        rows.append(LayerRow(layer.name, layer.param.type, list(wiring.bottoms), tops, shapes, shared))
    return ShapeReport(rows, list(net.output_names))


def _shape_text(shape) -> str:
    return "x".join(str(d) for d in shape) if shape else "scalar"


def format_rows(report: ShapeReport) -> str:
    """A plain-text table: layer, type, tops with shapes, params; then the totals."""
    table = [("layer", "type", "top shapes", "params")]
    for row in report.rows:
        tops = ", ".join(f"{name} {_shape_text(shape)}" for name, shape in row.tops) or "-"
        params = f"{row.params:,}" if row.param_shapes else ""
        if row.param_shapes:
            params += f"  ({' + '.join(_shape_text(s) for s in row.param_shapes)})"
            if any(row.shared):
                params += " shared"
        table.append((row.name, row.type, tops, params))
    widths = [max(len(r[i]) for r in table) for i in range(3)]
    lines = [f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]}".rstrip() for r in table]
    lines.append(f"total: {len(report.rows)} layers, {report.total_params:,} parameters, "
                 f"{report.total_blob_values:,} blob values per forward; outputs: {', '.join(report.outputs)}")
    return "\n".join(lines)
