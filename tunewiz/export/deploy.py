"""The net an export starts from: the deploy, built by the engine in the TEST phase on torch's kernels
(no Caffe-order numpy kernels in the trace), with every parameter layer's blobs from the weights."""
from __future__ import annotations

from pathlib import Path

from tunewiz.export.errors import ExportError


def check_weights(weights: str) -> list[str]:
    """The caffemodel paths (``a.caffemodel,b.caffemodel``), each an existing file."""
    from tunewiz.engine.net.weights import split_paths

    paths = split_paths(weights)
    if not paths:
        raise ExportError("--weights: give the .caffemodel to export (an exported net carries its weights)")
    for path in paths:
        if not Path(path).is_file():
            raise ExportError(f"--weights {path}: file does not exist")
    return paths


def load_deploy(model: str, weights: str, seed: int | None = None):
    """The engine ``Net`` of ``model`` (TEST phase, numerics "torch") with the blobs of ``weights``.
    Refuses when a layer with blobs gets none from the weights (it would carry its random fillers)."""
    from tunewiz.caffe.netio import read_net
    from tunewiz.engine.checks.memcheck import check_inference, guard
    from tunewiz.engine.checks.phasecheck import check_phase
    from tunewiz.engine.net.net import Net
    from tunewiz.engine.net.weights import copy_trained_layers

    if not Path(model).is_file():
        raise ExportError(f"--model {model}: file does not exist")
    paths = check_weights(weights)
    net_param = read_net(model)
    net_param.state.phase = 1  # TEST: what a deploy runs
    check_phase(net_param, model)
    check_inference(net_param, "cpu", command="forward", where=model)
    with guard(f"while building the TEST net of {model}", "cpu"):
        net = Net(net_param, "TEST", seed=seed, numerics="torch")
    report = copy_trained_layers(net, paths)
    if report.new:
        raise ExportError(f"layer{'s' if len(report.new) > 1 else ''} {', '.join(report.new)} of {model} "
                          f"got no weights from {', '.join(paths)} (an export would carry random fillers): "
                          "the layer names must match the caffemodel's (tunewiz inspect shows them)")
    net.eval()
    return net, report
