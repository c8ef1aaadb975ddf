"""``tunewiz forward``: LeNet with Caffe's weights gives Caffe's blobs; user mistakes are one clear line."""
from pathlib import Path

import numpy as np

from tunewiz.cli import main

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "engine"


def test_forward_saves_caffes_blobs(tmp_path):
    out = tmp_path / "out.npz"
    rc = main(["forward", "--model", str(FIX / "lenet_v1_deploy.prototxt"), "--weights", str(FIX / "lenet_v1.caffemodel"),
               "--input", f"data={FIX / 'input.npy'}", "--output", str(out)])
    assert rc == 0
    got, ref = np.load(out), np.load(FIX / "blobs.npz")
    assert sorted(got.files) == sorted(ref.files)
    for name in ref.files:
        np.testing.assert_allclose(got[name], ref[name], rtol=1e-5, atol=2e-6, err_msg=name)


def test_forward_selected_blobs(tmp_path):
    out = tmp_path / "out.npz"
    assert main(["forward", "--model", str(FIX / "lenet_v1_deploy.upgraded.prototxt"), "--input",
                 f"data={FIX / 'input.npy'}", "--output", str(out), "--blobs", "pool1,prob", "--seed", "1"]) == 0
    assert sorted(np.load(out).files) == ["pool1", "prob"]


def test_forward_mistakes(tmp_path, capsys):
    model = str(FIX / "lenet_v1_deploy.upgraded.prototxt")
    out = str(tmp_path / "o.npz")
    assert main(["forward", "--model", model, "--output", out]) == 2
    assert "needs --input for data" in capsys.readouterr().err
    assert main(["forward", "--model", model, "--input", "data=nope.npy", "--output", out]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["forward", "--model", model, "--input", f"data={FIX / 'input.npy'}", "--output", out,
                 "--blobs", "conv9"]) == 2
    assert "conv9: no such blob" in capsys.readouterr().err
    assert not Path(out).exists()


def test_forward_numerics_caffe_is_caffes_bit_for_bit_and_the_default_within_1e5(tmp_path):
    """--numerics caffe, as ``tunewiz train`` on the CPU: the summing layers give pycaffe's blobs exactly; the
    default (the prepared inference path, torch's kernels) equals them within 1e-5 of each blob's largest value."""
    args = ["forward", "--model", str(FIX / "lenet_v1_deploy.prototxt"), "--weights", str(FIX / "lenet_v1.caffemodel"),
            "--input", f"data={FIX / 'input.npy'}"]
    assert main(args + ["--output", str(tmp_path / "caffe.npz"), "--numerics", "caffe"]) == 0
    assert main(args + ["--output", str(tmp_path / "torch.npz")]) == 0
    exact, plain, ref = np.load(tmp_path / "caffe.npz"), np.load(tmp_path / "torch.npz"), np.load(FIX / "blobs.npz")
    for name in ("conv1", "pool1", "conv2", "pool2", "ip1", "ip2"):
        assert exact[name].tobytes() == ref[name].tobytes(), name
        assert np.abs(plain[name] - ref[name]).max() <= 1e-5 * np.abs(ref[name]).max() + 1e-6, name
    assert any(plain[name].tobytes() != ref[name].tobytes() for name in ("conv2", "ip1", "ip2"))
