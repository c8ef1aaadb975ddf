"""The nets a solver trains and tests, built as Caffe's ``Solver::InitTrainNet`` / ``InitTestNets`` do.

* train net: exactly one of ``train_net_param``, ``train_net``, ``net_param``, ``net``; its NetState =
  phase TRAIN, merged with the net's own ``state``, then the solver's ``train_state``;
* test nets: ``test_net_param`` entries, then ``test_net`` files, then as many instances of the
  generic ``net``/``net_param`` as ``test_iter`` has entries left; each with phase TEST merged with
  the net's ``state`` and ``test_state[i]``;
* fine-tuning (``--weights a,b``): "Finetuning from <file>" per file and per net, then Caffe's
  ``CopyTrainedLayersFrom`` (layers matched by name; "Ignoring source layer X" for the others);
* test nets share the train net's blobs by layer name (``ShareTrainedLayersWith``);
* every net gets the label guard (:mod:`tunewiz.engine.train.labelguard`) and, on the CPU, Caffe's
  summation order unless ``numerics`` is "torch".

:func:`build_solver_nets` does all of it for a :class:`~tunewiz.engine.train.solver.Solver`.
"""
from __future__ import annotations

import copy
from pathlib import Path

from tunewiz.caffe import caffe_pb2
from tunewiz.caffe.prototxt import to_text
from tunewiz.engine.checks.phasecheck import check_phase
from tunewiz.engine.train.labelguard import install_label_guard
from tunewiz.engine.train.snapshot import resolve
from tunewiz.errors import TunewizError


class SolverSetupError(TunewizError):
    """A solver that does not say which nets to train/test (Caffe's CHECKs in InitTrainNet/InitTestNets)."""


def _read_net(root, path: str, log=None, field: str = "net") -> caffe_pb2.NetParameter:
    from tunewiz.caffe.netio import read_net

    notes = []
    where = resolve(root, path)
    if not Path(path).is_absolute() and not where.exists():  # Caffe reads it from where it runs, not the solver's
        folder = Path(root if root is not None else ".").resolve()
        raise SolverSetupError(f'the solver\'s {field}: "{path}" is looked for as {folder / path}, which does not '
                               f"exist: a relative path in a solver is read from the folder tunewiz runs in "
                               f"({folder}), as in Caffe, not from the solver's folder. Run from the folder the "
                               "solver's paths start at, or write the path absolute.")
    net = read_net(where, notes)
    if log is not None:
        log_notes(log, notes)
    return net


def log_notes(log, notes) -> None:
    """Caffe's upgrade lines (``upgrade_proto.cpp``), in the log with their severity."""
    for note in notes:
        log.log("upgrade_proto.cpp:44", note.text, {"warning": "W", "error": "E"}.get(note.level, "I"))


def train_net_param(sp, root, log) -> caffe_pb2.NetParameter:
    """The train net's NetParameter with its NetState set (``Solver::InitTrainNet``)."""
    given = [f for f in ("train_net_param", "train_net", "net_param", "net") if sp.HasField(f)]
    if not given:
        raise SolverSetupError("the solver names no net: give one of net, net_param, train_net, train_net_param.")
    if len(given) > 1:
        raise SolverSetupError(f"the solver names the train net more than once ({', '.join(given)}); keep one.")
    field = given[0]
    if field.endswith("_param"):
        log.info("train_net", f"Creating training net specified in {field}.")
        net = copy.deepcopy(getattr(sp, field))
    else:
        log.info("train_net", f"Creating training net from {field.replace('_', ' ')} file: {getattr(sp, field)}")
        net = _read_net(root, getattr(sp, field), log, field)
    state = caffe_pb2.NetState(phase=caffe_pb2.TRAIN)
    state.MergeFrom(net.state)
    state.MergeFrom(sp.train_state)
    net.state.CopyFrom(state)
    check_phase(net, getattr(sp, field) if field in ("net", "train_net") else f"the solver's {field}")
    return net


def test_net_params(sp, root, log) -> list[caffe_pb2.NetParameter]:
    """The test nets' NetParameters with their NetStates (``Solver::InitTestNets``)."""
    generic = sp.HasField("net_param") + sp.HasField("net")
    if generic > 1:
        raise SolverSetupError("Both net_param and net may not be specified; keep one.")
    specific = len(sp.test_net_param) + len(sp.test_net)
    if not generic and not specific and len(sp.test_iter):
        raise SolverSetupError(f"the solver gives test_iter ({', '.join(map(str, sp.test_iter))}) but no net to test: "
                               "train_net/train_net_param is the TRAIN net only. Fix: add test_net: with a net whose "
                               "TEST phase reads the validation data (or use net: with a train_val net that has "
                               "both phases), or remove test_iter and test_interval to train without testing.")
    if (generic and len(sp.test_iter) < specific) or (not generic and len(sp.test_iter) != specific):
        raise SolverSetupError(f"test_iter must be specified for each test network: the solver gives "
                               f"{len(sp.test_iter)} test_iter for {specific} test nets (test_net/test_net_param); "
                               "give one test_iter per test net, in their order.")
    sources: list[tuple[str, object]] = [("test_net_param", p) for p in sp.test_net_param]
    sources += [("test_net", f) for f in sp.test_net]
    instances = len(sp.test_iter) - specific
    sources += [("net_param", sp.net_param) if sp.HasField("net_param") else ("net", sp.net)] * instances
    if len(sp.test_state) and len(sp.test_state) != len(sources):
        raise SolverSetupError("test_state must be unspecified or specified once per test net.")
    if sources and sp.test_interval <= 0:
        raise SolverSetupError("the solver has test nets but test_interval is not > 0; set test_interval.")
    nets = []
    for i, (kind, src) in enumerate(sources):
        if isinstance(src, str):
            log.info("test_net", f"Creating test net (#{i}) specified by {kind.replace('_', ' ')} file: {src}")
            net = _read_net(root, src, log, kind)
        else:
            log.info("test_net", f"Creating test net (#{i}) specified by {kind}")
            net = copy.deepcopy(src)
        state = caffe_pb2.NetState(phase=caffe_pb2.TEST)
        state.MergeFrom(net.state)
        if len(sp.test_state):
            state.MergeFrom(sp.test_state[i])
        net.state.CopyFrom(state)
        named = src if isinstance(src, str) else f"the solver's {kind}"
        check_phase(net, f"test net #{i} ({named}, for test_iter)",
                    "remove test_iter and test_interval from the solver to train without testing")
        nets.append(net)
    return nets


def build_net(net_param, device, seed, root, weights=(), solver=None, numerics: str = "torch", shard=None):
    """A Net for the state stored in ``net_param.state``, once its data is known to fit it and ``weights``
    (``tunewiz.engine.checks.datafit``: records too small, other channels, a crop too large get one fix-it message);
    a TRAIN net must be able to learn (``tunewiz.engine.checks.learning``).  With ``solver`` (the TRAIN net's build)
    the solver's nets must fit in memory first (``tunewiz.engine.checks.memcheck``)."""
    from tunewiz.engine.checks.datafit import check_data_fit
    from tunewiz.engine.checks.memcheck import allocation_error, check_training
    from tunewiz.engine.checks.memory import is_allocation_failure
    from tunewiz.engine.net.net import Net

    from tunewiz.engine.checks.learning import check_can_learn

    check_data_fit(net_param, root=root, weights=[resolve(root, w) for w in weights])
    if solver is not None:
        check_training(solver, net_param, device, root, _test_params_to_count(solver, root))
    st = net_param.state
    try:
        net = Net(net_param, st.phase, level=st.level, stages=(), device=device, seed=seed, root=root,
                  numerics=numerics, shard=shard)
    except Exception as exc:  # the estimate passed (or was off) and an allocation failed anyway
        if is_allocation_failure(exc):
            phase = "TRAIN" if st.phase == caffe_pb2.TRAIN else "TEST"
            raise allocation_error(exc, f"while building the {phase} net '{net_param.name or 'unnamed'}'",
                                   device) from None
        raise
    if st.phase == caffe_pb2.TRAIN:
        try:  # a net with no loss, or nothing learning before it: Caffe would "train" it unchanged
            check_can_learn(net, f"the TRAIN net ({net_param.name or 'unnamed'})")
        except TunewizError:
            net.close()
            raise
    return net


class _Quiet:
    """A log that says nothing: the test nets are read a second time, for counting only."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


def _test_params_to_count(sp, root) -> list:
    """The test nets' NetParameters for the memory check; none when they cannot be read (the build says why)."""
    try:
        return test_net_params(sp, root, _Quiet())
    except Exception:  # noqa: BLE001 - a solver or test net that cannot be read: the normal path says why
        return []


def build_solver_nets(sp, root, device, weights: list[str], numerics: str, log, shard=None) -> tuple:
    """``Solver::InitTrainNet`` and ``InitTestNets`` (with ``caffe train --weights``): (train net, [test nets]).

    Each test net shares the train net's blobs; if one net cannot be built, those built are closed.  With
    ``shard`` = (rank, size), rank > 0 builds no test net (TEST runs on rank 0, :mod:`tunewiz.engine.dist`)."""
    seed = sp.random_seed if sp.random_seed >= 0 else None
    built = []
    try:
        train = build_net(train_net_param(sp, root, log), device, seed, root, weights, sp, numerics, shard)
        built.append(train)
        if weights:
            load_weights(train, weights, root, log)
        for param in test_net_params(sp, root, log) if not shard or shard[0] == 0 else []:
            test = build_net(param, device, None, root, weights, numerics=numerics)
            built.append(test)
            if weights:
                load_weights(test, weights, root, log)
            share_trained_layers(test, train)
        prepare_nets(built, numerics, device, log)
    except BaseException:
        for net in built:
            net.close()
        raise
    return built[0], built[1:]


# -- weights ------------------------------------------------------------------------------------
def load_weights(net, paths: list[str], root, log) -> None:
    """``LoadNetWeights``: per file, "Finetuning from X" and Caffe's ``CopyTrainedLayersFrom``."""
    from tunewiz.engine.net.weights import copy_trained_layers

    for path in paths:
        log.info("finetune", f"Finetuning from {path}")
        report = copy_trained_layers(net, [str(resolve(root, path))])
        for name in report.ignored:
            log.info("ignore_layer", f"Ignoring source layer {name}")


def share_trained_layers(test_net, train_net) -> None:
    """``Net::ShareTrainedLayersWith``: same-name layers use the train net's blobs."""
    for layer in test_net.layers:
        source = train_net.layer_by_name(layer.name)
        if source is None or not len(source.blobs):
            continue
        if len(source.blobs) != len(layer.blobs):
            raise SolverSetupError(f"Incompatible number of blobs for layer '{layer.name}' in the train and "
                                   f"test nets ({len(source.blobs)} vs {len(layer.blobs)}).")
        for j, blob in enumerate(source.blobs):
            if tuple(blob.shape) != tuple(layer.blobs[j].shape):
                raise SolverSetupError(
                    f"Cannot share param {j} weights from layer '{layer.name}'; shape mismatch. Source param "
                    f"shape is {tuple(blob.shape)}; target param shape is {tuple(layer.blobs[j].shape)}.")
            layer.blobs[j] = blob


def solver_text(sp) -> str:
    return to_text(sp).rstrip("\n")


def prepare_nets(nets: list, numerics: str, device, log) -> None:
    """Say which layers chose Caffe's CPU summation order when built (``numerics == "caffe"``), and put
    the label guard on every net."""
    if numerics == "caffe" and device.type == "cpu":
        chosen = [layer.name for layer in nets[0].layers if layer.engine == "caffe"]
        log.info("tunewiz", f"tunewiz: Caffe's CPU summation order for {', '.join(chosen) or 'no layer'}")
    for net in nets:
        install_label_guard(net)


def batch_size(net) -> int:
    """Items per forward: the first dimension of the first data layer's first top."""
    for layer, w in zip(net.layers, net.wirings):
        if layer.is_data and w.tops:
            return int(net.blob_shapes[w.tops[0]][0]) if net.blob_shapes[w.tops[0]] else 1
    return 1


def loss_weight_of(net, blob: str) -> float:
    for w in net.wirings:
        for top, weight in zip(w.tops, w.loss_weights):
            if top == blob and weight:
                return weight
    return 0.0

