"""One pass of a validation set: every record once (23 records, batch 10), against an independent forward."""
from __future__ import annotations

import sys
import threading
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from scoring_data import forward_all, make_set, matrix_of, net_text  # noqa: E402

from tunewiz.caffe import caffe_pb2  # noqa: E402
from tunewiz.caffe.prototxt import parse_text  # noqa: E402
from tunewiz.infer.evaluate import BatchScored, EvalStopped, Evaluation, evaluate, pass_batches, run_evaluation  # noqa: E402
from tunewiz.infer.targets import TargetError, find_target  # noqa: E402


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_set(tmp_path_factory.mktemp("scored"), n=23, batch=10)


def _net(data, text: str | None = None):
    from tunewiz.engine.net.net import Net
    from tunewiz.engine.net.weights import copy_trained_layers

    net = Net(parse_text(text or data["net"].read_text(), caffe_pb2.NetParameter()), caffe_pb2.TEST)
    copy_trained_layers(net, [str(data["weights"])])
    return net


def test_pass_batches():
    assert [pass_batches(23, 10), pass_batches(20, 10), pass_batches(23, 10, 2), pass_batches(23, 10, 9)] == [3, 2, 2, 3]


def test_one_pass_counts_every_record_once(data):
    net = _net(data)
    events = list(evaluate(net, keep=50))
    net.close()
    batches, result = events[:-1], events[-1]
    assert [type(e) for e in batches] == [BatchScored] * 3 and isinstance(result, Evaluation)
    assert [e.counted for e in batches] == [10, 20, 23] and result.counted == result.records == 23
    scores = forward_all(data)
    assert [list(r) for r in result.scores.matrix] == matrix_of(scores, data["truth"])
    assert sum(map(sum, result.scores.matrix)) == 23
    right = int((scores.argmax(axis=1) == data["truth"]).sum())
    assert dict(result.scores.top_k_hits)[1] == right
    assert 0 < right < 23  # the random weights make mistakes: the check means something
    # every mistake, each record once, with its own key (the wrapped places of the last batch are not there)
    wrong = {data["keys"][i].decode() for i in np.nonzero(scores.argmax(axis=1) != data["truth"])[0]}
    assert [m.key for m in result.scores.mistakes] and {m.key for m in result.scores.mistakes} == wrong
    assert len(result.scores.mistakes) == len(wrong)
    # Caffe's outputs count whole batches, the last one wrapping around to records 0..6
    assert result.batches == 3 and set(result.caffe["outputs"]) == {"accuracy", "loss"}


def test_mistakes_most_confident_first_with_their_keys(data):
    net = _net(data)
    result = run_evaluation(net, keep=3)
    net.close()
    scores = forward_all(data)
    prob = np.exp(scores - scores.max(axis=1, keepdims=True))
    prob /= prob.sum(axis=1, keepdims=True)
    wrong = [i for i in range(23) if scores[i].argmax() != data["truth"][i]]
    expected = sorted(wrong, key=lambda i: (-prob[i].max(), i))[:3]
    assert [m.key for m in result.scores.mistakes] == [data["keys"][i].decode() for i in expected]
    assert [m.confidence for m in result.scores.mistakes] == pytest.approx([prob[i].max() for i in expected], rel=1e-5)
    first = result.scores.mistakes[0]
    assert first.file == first.key[9:] and first.true == data["truth"][expected[0]]


def test_iterations_cap_the_pass(data):
    net = _net(data)
    result = run_evaluation(net, iterations=2)
    net.close()
    assert (result.batches, result.counted, result.records, result.complete) == (2, 20, 23, False)
    scores = forward_all(data)
    assert [list(r) for r in result.scores.matrix] == matrix_of(scores[:20], data["truth"][:20])


def test_stop_between_batches(data):
    net = _net(data)
    stop = threading.Event()
    seen = []
    for event in evaluate(net, stop=stop):
        seen.append(event)
        stop.set()
    net.close()
    assert isinstance(seen[0], BatchScored) and seen[-1] == EvalStopped(1)


def test_softmax_with_loss_when_no_accuracy(data):
    text = net_text(10, str(data["root"] / "val_lmdb"), accuracy=False)
    net = _net(data, text)
    target = find_target(net)
    assert (target.layer, target.score, target.label, target.top_ks) == ("loss", "ip", "label", (1,))
    assert run_evaluation(net).counted == 23
    net.close()


def test_top_k_of_the_accuracy_layers(data):
    text = net_text(10, str(data["root"] / "val_lmdb"), top_k=2)
    net = _net(data, text)
    result = run_evaluation(net)
    net.close()
    scores = forward_all(data)
    better = (scores >= scores[np.arange(23), data["truth"]][:, None]).sum(axis=1) - 1
    assert dict(result.scores.top_k_hits) == {1: int((better < 1).sum()), 2: int((better < 2).sum())}


def test_a_net_without_accuracy_or_loss_is_one_message(data):
    text = net_text(10, str(data["root"] / "val_lmdb"), accuracy=False, loss=False)
    net = _net(data, text)
    with pytest.raises(TargetError, match="no Accuracy or SoftmaxWithLoss layer .* add one, e.g. layer"):
        find_target(net, "n.prototxt")
    net.close()


def test_labels_not_from_a_data_layer_are_named(data):
    text = ('layer { name: "data" type: "Input" top: "data" top: "label" input_param { shape { dim: 4 dim: 1 dim: 6 '
            'dim: 6 } shape { dim: 4 } } }\n'
            'layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip" inner_product_param { num_output: 3 } }\n'
            'layer { name: "accuracy" type: "Accuracy" bottom: "ip" bottom: "label" top: "accuracy" }\n')
    net = _net(data, text)
    with pytest.raises(TargetError, match=r"blob 'label', come from layer 'data' \(Input\).*Data or ImageData"):
        find_target(net, "n.prototxt")
    net.close()


def test_an_image_list_is_one_pass_too_with_paths_as_keys(data, tmp_path, monkeypatch):
    import cv2

    monkeypatch.setenv("TUNEWIZ_DATA_WORKERS", "0")  # 7 tiny images: decoded here, no worker processes to start

    from tunewiz.engine.net.net import Net
    from tunewiz.engine.net.weights import copy_trained_layers

    lines = []
    for i, img in enumerate(data["images"][:7]):
        name = f"img/{i}.png"
        (tmp_path / "img").mkdir(exist_ok=True)
        cv2.imwrite(str(tmp_path / name), img[0])
        lines.append(f"{name} {data['truth'][i]}\n")
    (tmp_path / "val.txt").write_text("".join(lines))
    text = net_text().replace('type: "Data"', 'type: "ImageData"').replace(
        'data_param { source: "val_lmdb" batch_size: 10 backend: LMDB }',
        f'image_data_param {{ source: "{tmp_path / "val.txt"}" root_folder: "{tmp_path}/" batch_size: 3 '
        'is_color: false }')
    net = Net(parse_text(text, caffe_pb2.NetParameter()), caffe_pb2.TEST)
    copy_trained_layers(net, [str(data["weights"])])
    result = run_evaluation(net, keep=10)
    net.close()
    assert (result.batches, result.counted, result.records) == (3, 7, 7)
    scores = forward_all(data)[:7]
    assert [list(r) for r in result.scores.matrix] == matrix_of(scores, data["truth"][:7])
    assert all(m.key.startswith("img/") and m.file == m.key for m in result.scores.mistakes)
