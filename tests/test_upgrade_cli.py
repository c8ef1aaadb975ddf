"""tunewiz upgrade-net-text / upgrade-net-binary / upgrade-solver-text."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tunewiz.caffe import caffe_pb2, prototxt
from tunewiz.cli import main

FIX = Path(__file__).resolve().parent / "fixtures" / "upgrade"


def test_net_text_upgrade_prints_caffes_notes_and_writes(tmp_path, capsys):
    out = tmp_path / "deploy.prototxt"
    assert main(["upgrade-net-text", str(FIX / "lenet_v1_deploy.prototxt"), str(out)]) == 0
    assert prototxt.read_net_text(out) == prototxt.read_net_text(FIX / "lenet_v1_deploy.upgraded.prototxt")
    captured = capsys.readouterr()
    assert "warning: Note that future Caffe releases will only support input layers and not input fields." in captured.err
    assert "Successfully upgraded file specified using deprecated V1LayerParameter" in captured.err
    assert f"Wrote upgraded NetParameter text proto to {out}" in captured.out


def test_net_binary_upgrade_is_byte_identical_to_caffes(tmp_path, capsys):
    out = tmp_path / "up.caffemodel"
    assert main(["upgrade-net-binary", str(FIX / "lenet_v1.caffemodel"), str(out)]) == 0
    assert out.read_bytes() == (FIX / "lenet_v1.upgraded.caffemodel").read_bytes()
    assert "Wrote upgraded NetParameter binary proto" in capsys.readouterr().out


def test_solver_upgrade_and_both_fields_fatal(tmp_path, capsys):
    out = tmp_path / "solver.prototxt"
    assert main(["upgrade-solver-text", str(FIX / "solver_v1.prototxt"), str(out)]) == 0
    assert prototxt.read_solver_text(out) == prototxt.read_solver_text(FIX / "solver_v1.upgraded.prototxt")
    capsys.readouterr()
    bad_out = tmp_path / "both.prototxt"
    assert main(["upgrade-solver-text", str(FIX / "solver_both.prototxt"), str(bad_out)]) != 0
    err = capsys.readouterr().err
    assert "cannot be both specified in solver proto text" in err and "Traceback" not in err
    assert not bad_out.exists()


def test_existing_output_is_kept_unless_force(tmp_path, capsys):
    out = tmp_path / "out.prototxt"
    out.write_text("precious\n")
    assert main(["upgrade-net-text", str(FIX / "lenet_v1_deploy.prototxt"), str(out)]) != 0
    assert out.read_text() == "precious\n"
    assert "--force" in capsys.readouterr().err
    assert main(["upgrade-net-text", "--force", str(FIX / "lenet_v1_deploy.prototxt"), str(out)]) == 0
    assert prototxt.read_net_text(out).layer[0].type == "Input"


def test_already_current_file_is_reported_and_copied(tmp_path, capsys):
    out = tmp_path / "same.prototxt"
    src = FIX / "lenet_v1_deploy.upgraded.prototxt"
    assert main(["upgrade-net-text", str(src), str(out)]) == 0
    assert f"File already in latest proto format: {src}" in capsys.readouterr().err
    assert prototxt.read_net_text(out) == prototxt.read_net_text(src)


def _write_bad(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"in_{kind}"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "binary":
        shutil.copy(FIX / "lenet_v1.caffemodel", path)
    elif kind == "syntax":
        path.write_text('name: "x"\nlayers { nam: "a" }\n')
    elif kind == "mixed":
        path.write_text('layer { name: "a" type: "ReLU" }\nlayers { name: "b" type: RELU }\n')
    elif kind == "text":
        shutil.copy(FIX / "lenet_v1_deploy.prototxt", path)
    return path


@pytest.mark.parametrize("command, kind, needle", [
    ("upgrade-net-text", "empty", "the file is empty"),
    ("upgrade-net-text", "binary", "expected a net prototxt, but this is a caffemodel"),
    ("upgrade-net-text", "syntax", ":2:"),
    ("upgrade-net-text", "mixed", "already specifies 'layer' fields"),
    ("upgrade-net-text", "missing", "no such file"),
    ("upgrade-net-binary", "text", "this is a net prototxt"),
    ("upgrade-net-binary", "empty", "empty file"),
    ("upgrade-net-binary", "missing", "no such file"),
    ("upgrade-solver-text", "binary", "expected a solver prototxt, but this is a caffemodel"),
])
def test_bad_input_one_message_no_output(tmp_path, capsys, command, kind, needle):
    src = _write_bad(tmp_path, kind)
    out = tmp_path / "out"
    assert main([command, str(src), str(out)]) != 0
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err
    assert err.count("tunewiz: error:") == 1
    assert not out.exists()


def test_missing_output_folder_is_an_error(tmp_path, capsys):
    out = tmp_path / "nowhere" / "x.prototxt"
    assert main(["upgrade-net-text", str(FIX / "lenet_v1_deploy.prototxt"), str(out)]) != 0
    assert "does not exist" in capsys.readouterr().err


def test_v0_net_text_via_cli(tmp_path):
    out = tmp_path / "v0.prototxt"
    assert main(["upgrade-net-text", "--quiet", str(FIX / "v0_net.prototxt"), str(out)]) == 0
    net = prototxt.read_net_text(out)
    assert net == prototxt.read_net_text(FIX / "v0_net.expected.prototxt")
    assert isinstance(net, caffe_pb2.NetParameter)


def test_binary_already_current_is_rewritten_unchanged(tmp_path, capsys):
    src = FIX / "lenet_v1.upgraded.caffemodel"
    out = tmp_path / "same.caffemodel"
    assert main(["upgrade-net-binary", str(src), str(out)]) == 0
    assert f"File already in latest proto format: {src}" in capsys.readouterr().err
    assert out.read_bytes() == src.read_bytes()


def test_binary_given_a_solverstate_names_it(tmp_path, capsys):
    state = caffe_pb2.SolverState(iter=3, learned_net="snap_iter_3.caffemodel")
    state.history.add().data.extend([0.5] * 4)
    src = tmp_path / "snap_iter_3.solverstate"
    src.write_bytes(state.SerializeToString())
    out = tmp_path / "out.caffemodel"
    assert main(["upgrade-net-binary", str(src), str(out)]) != 0
    assert "solverstate" in capsys.readouterr().err and not out.exists()


@pytest.mark.parametrize("command, stem", [
    ("upgrade-net-text", "lenet_v1_train_val"),
    ("upgrade-net-text", "lenet_v1_deploy"),
    ("upgrade-solver-text", "solver_v1"),
])
def test_text_upgrades_are_byte_identical_to_caffes_files(tmp_path, command, stem):
    out = tmp_path / "out.prototxt"
    assert main([command, "--quiet", str(FIX / f"{stem}.prototxt"), str(out)]) == 0
    assert out.read_bytes() == (FIX / f"{stem}.upgraded.prototxt").read_bytes()


def _v0_caffemodel(path: Path) -> None:
    """A V0 net (layers { layer { … blobs } }) with a duplicate name and a padding layer, as old Caffe wrote."""
    import numpy as np

    net = caffe_pb2.NetParameter(name="v0", input=["data"], input_dim=[1, 1, 6, 6])
    pad = net.layers.add(bottom=["data"], top=["padded"])
    pad.layer.name, pad.layer.type, pad.layer.pad = "pad1", "padding", 1
    for i, name in enumerate(["conv1", "conv1"]):
        entry = net.layers.add(bottom=["padded" if i == 0 else "c0"], top=[f"c{i}"])
        entry.layer.name, entry.layer.type, entry.layer.num_output, entry.layer.kernelsize = name, "conv", 2, 3
        entry.layer.blobs.add(num=2, channels=1 + i, height=3, width=3,
                              data=np.arange(18 * (1 + i), dtype=np.float32) + i)
        entry.layer.blobs.add(num=1, channels=1, height=1, width=2, data=[5 + i, 6])
    path.write_bytes(net.SerializeToString())


def test_binary_fast_path_equals_protobufs_whole_message_upgrade(tmp_path, capsys):
    from tunewiz.caffe.upgrade import upgrade_net_param

    src, out = tmp_path / "v0.caffemodel", tmp_path / "up.caffemodel"
    _v0_caffemodel(src)
    assert main(["upgrade-net-binary", str(src), str(out)]) == 0
    whole = caffe_pb2.NetParameter.FromString(src.read_bytes())
    upgrade_net_param(whole, str(src))
    assert out.read_bytes() == whole.SerializeToString()
    for source in (FIX / "lenet_v1.caffemodel", FIX / "lenet_v1.upgraded.caffemodel"):
        whole = caffe_pb2.NetParameter.FromString(source.read_bytes())
        upgrade_net_param(whole, str(source))
        assert main(["upgrade-net-binary", "--force", str(source), str(out)]) == 0
        assert out.read_bytes() == whole.SerializeToString()


def test_upgrade_with_problems_writes_and_exits_1_like_caffe(tmp_path, capsys):
    src = tmp_path / "v0.prototxt"
    src.write_text('input: "x"\nlayers { layer { name: "r" type: "relu" num_output: 3 } bottom: "x" top: "x" }\n')
    out = tmp_path / "out.prototxt"
    assert main(["upgrade-net-text", str(src), str(out)]) == 1
    err = capsys.readouterr().err
    assert "Unknown parameter num_output for layer type relu" in err
    assert "Encountered error(s) while upgrading prototxt; see details above." in err
    assert prototxt.read_net_text(out).layer[-1].type == "ReLU"


def test_upgrades_stay_light(tmp_path):
    """The upgrade commands need neither torch nor textual nor OpenCV."""
    import subprocess
    import sys

    runs = [["upgrade-net-text", FIX / "lenet_v1_train_val.prototxt", tmp_path / "a.prototxt"],
            ["upgrade-net-binary", FIX / "lenet_v1.caffemodel", tmp_path / "b.caffemodel"],
            ["upgrade-solver-text", FIX / "solver_v1.prototxt", tmp_path / "c.prototxt"]]
    code = ("import sys; from tunewiz.cli import main\n"
            f"for argv in {[[str(a) for a in r] for r in runs]!r}:\n"
            "    assert main(argv + ['--quiet']) == 0\n"
            "heavy = [m for m in ('torch', 'textual', 'cv2') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("command, src", [
    ("upgrade-net-text", "lenet_v1_deploy.upgraded.prototxt"),
    ("upgrade-solver-text", "solver_v1.upgraded.prototxt"),
    ("upgrade-net-binary", "lenet_v1.upgraded.caffemodel"),
])
def test_in_place_on_a_current_file_refuses_and_leaves_it(tmp_path, capsys, command, src):
    """``--force IN IN`` with nothing to upgrade: exit != 0, one line, IN byte for byte as it was."""
    path = tmp_path / src
    data = (FIX / src).read_bytes()
    path.write_bytes(b"# my notes\n" + data if src.endswith(".prototxt") else data)
    before = path.read_bytes()
    assert main([command, "--force", str(path), str(path)]) == 2
    err = capsys.readouterr().err
    assert err == f"tunewiz: error: {path}: already in the latest proto format; nothing to upgrade, the file is " \
                  "left as it was\n"
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == [src]


def test_in_place_upgrade_keeps_comments_or_refuses(tmp_path, capsys):
    commented = tmp_path / "net.prototxt"
    commented.write_text("# conv1 as in the paper\n" + (FIX / "lenet_v1_deploy.prototxt").read_text())
    before = commented.read_bytes()
    assert main(["upgrade-net-text", "--force", str(commented), str(commented)]) == 2
    err = capsys.readouterr().err
    assert "would drop its # comments; nothing was written" in err and "Traceback" not in err
    assert err.count("\n") == 1 and commented.read_bytes() == before
    plain = tmp_path / "plain.prototxt"  # no comment to lose: the in-place upgrade is done
    plain.write_text((FIX / "lenet_v1_deploy.prototxt").read_text().replace('"#"', '"x"'))
    assert main(["upgrade-net-text", "--force", "--quiet", str(plain), str(plain)]) == 0
    assert prototxt.read_net_text(plain) == prototxt.read_net_text(FIX / "lenet_v1_deploy.upgraded.prototxt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.prototxt", "plain.prototxt"]


def test_a_hash_inside_a_string_is_not_a_comment(tmp_path):
    from tunewiz.commands.upgrade import _has_comments

    path = tmp_path / "n.prototxt"
    for text, found in (('name: "a#b" # real\n', True), ('name: "a#b"\nlayer { name: \'c\\\'#\' }\n', False),
                        ('name: "unclosed\n# comment\n', True)):
        path.write_text(text)
        assert _has_comments(str(path)) is found, text
