"""gflags' flag forms on every subcommand (tunewiz.commands.gflags), through each tool's own parser.

Every long flag is also taken as ``-flag v``, ``-flag=v``, ``--flag v``, ``--flag=v``; every boolean as
``-flag``, ``--flag``, ``-noflag``, ``--noflag``, ``-flag=true|false`` (t/f, yes/no, y/n, 1/0, any case),
and they all give the same Namespace.  An unknown flag is ONE line naming the nearest known one, exit 2.
"""
from __future__ import annotations

import pytest

from tunewiz.cli import COMMANDS, command_parser, main

# command -> (arguments that make the rest parse, [(value flag, a value that is not its default)], [booleans])
TOOLS: dict[str, tuple[list[str], list[tuple[str, str]], list[str]]] = {
    "train": (["--solver", "s.prototxt"], [("weights", "w.caffemodel"), ("snapshot", "x.solverstate"),
                                           ("gpu", "0"), ("level", "3"), ("stage", "a,b"), ("sigint_effect", "none"),
                                           ("run_dir", "runs/a"), ("iterations", "7"), ("model", "n.prototxt")], []),
    "test": (["--model", "n.prototxt"], [("weights", "w.caffemodel"), ("iterations", "7"), ("phase", "TRAIN"),
                                         ("gpu", "all"), ("level", "2"), ("stage", "deploy"),
                                         ("numerics", "torch"), ("solver", "s.prototxt")], []),
    "time": (["--model", "n.prototxt"], [("iterations", "3"), ("phase", "TEST"), ("gpu", "0,1"),
                                         ("sighup_effect", "stop")], []),
    "device-query": ([], [("gpu", "1")], []),
    "convert-imageset": (["R/", "L", "D"], [("backend", "leveldb"), ("resize_width", "28"), ("resize_height", "20"),
                                            ("encode_type", "png"), ("seed", "5")],
                         ["gray", "shuffle", "check_size", "encoded"]),
    "compute-image-mean": (["DB"], [("backend", "leveldb")], ["force"]),
    "upgrade-net-text": (["IN", "OUT"], [], ["force", "quiet"]),
    "upgrade-net-binary": (["IN", "OUT"], [], ["force", "quiet"]),
    "upgrade-solver-text": (["IN", "OUT"], [], ["force", "quiet"]),
    "forward": (["--model", "n.prototxt", "--output", "o.npz"], [("weights", "w.caffemodel"), ("phase", "TRAIN"),
                                                               ("blobs", "a,b"), ("seed", "9"), ("input", "data=x.npy")],
                []),
    "export": (["--model", "n.prototxt", "--weights", "w.caffemodel"],
               [("onnx", "o.onnx"), ("torch", "o.pt2"), ("state-dict", "o.pt"), ("outputs", "a,b")], ["force"]),
    "inspect": (["f.caffemodel"], [("shapes", "n.prototxt"), ("phase", "TEST")], ["json"]),
    "classify": (["--model", "d.prototxt", "--weights", "w.caffemodel", "a.jpg"],
                 [("top-k", "3"), ("mean-value", "1,2,3"), ("convention", "classify.py"), ("images-dim", "256,256"),
                  ("json", "o.json"), ("run", "runs/x"), ("gpu", "0"), ("input-scale", "0.5")], ["oversample", "force"]),
    "finetune": (["--weights", "w.caffemodel", "--train-db", "t", "--val-db", "v", "--out", "o"],
                 [("classes", "5"), ("lr-divisor", "100"), ("output-layer", "fc8"), ("mode", "cpu")],
                 ["keep-lr-mult", "overwrite", "diff", "dry-run", "train"]),
    "serve": ([], [("host", "0.0.0.0"), ("port", "8123")], []),
    "pycaffe": ([], [], ["path"]),
    "download-model": (["models/x"], [("timeout", "5"), ("retries", "1")], ["force"]),
}
TRUE_FORMS = ["-{f}", "--{f}", "-{f}=true", "--{f}=TRUE", "-{f}=t", "-{f}=Yes", "--{f}=y", "-{f}=1"]
FALSE_FORMS = ["-no{f}", "--no{f}", "-{f}=false", "--{f}=False", "-{f}=F", "-{f}=no", "--{f}=N", "-{f}=0"]


def _parse(command: str, argv: list[str]):
    return command_parser(command).parse_args(argv)


def _value_cases():
    return [(c, f, v) for c, (_, values, _) in TOOLS.items() for f, v in values]


def _bool_cases():
    return [(c, f) for c, (_, _, flags) in TOOLS.items() for f in flags]


def test_every_command_is_covered():
    """A new command joins TOOLS (attach takes only a positional, the wizard no flags)."""
    assert set(TOOLS) | {"attach"} == set(COMMANDS)


@pytest.mark.parametrize("command,flag,value", _value_cases())
def test_the_four_value_forms_give_one_namespace(command, flag, value):
    base = TOOLS[command][0]
    forms = [[f"-{flag}", value], [f"-{flag}={value}"], [f"--{flag}", value], [f"--{flag}={value}"]]
    parsed = [_parse(command, form + base) for form in forms]
    assert all(ns == parsed[0] for ns in parsed), forms
    assert parsed[0] != _parse(command, base), "the value must change the Namespace"
    # flags before or after the positionals, and Caffe's own tool name: the same
    alias = {"convert-imageset": "convert_imageset", "compute-image-mean": "compute_image_mean",
             "download-model": "download_model_binary.py"}.get(command, command)
    assert _parse(alias, base + [f"-{flag}", value]) == parsed[0]


@pytest.mark.parametrize("command,flag", _bool_cases())
def test_boolean_forms(command, flag):
    base = TOOLS[command][0]
    dest = flag.replace("-", "_")
    assert getattr(_parse(command, base), dest) is False
    for form in TRUE_FORMS:
        assert getattr(_parse(command, [form.format(f=flag)] + base), dest) is True, form
    for form in FALSE_FORMS:  # after the flag was set: the false form wins, as the last gflags flag does
        assert getattr(_parse(command, [f"--{flag}", form.format(f=flag)] + base), dest) is False, form


def test_a_boolean_never_takes_the_next_token():
    ns = _parse("convert-imageset", ["-gray", "R/", "-shuffle", "L", "D"])
    assert (ns.gray, ns.shuffle, ns.root, ns.paths) == (True, True, "R/", ["L", "D"])
    ns = _parse("inspect", ["-json", "true"])  # gflags: "true" after a boolean is a positional
    assert ns.json is True and ns.files == ["true"]


@pytest.mark.parametrize("command", ["train", "test", "time", "device-query"])
@pytest.mark.parametrize("gpu", ["0", "0,1", "all"])
def test_gpu_lists(command, gpu):
    base = TOOLS[command][0]
    assert _parse(command, base + ["-gpu", gpu]).gpu == gpu
    assert _parse(command, base + [f"-gpu={gpu}"]).gpu == gpu


@pytest.mark.parametrize("argv", [["-level", "-1"], ["-level=-1"], ["--level", "-1"], ["--level=-1"]])
def test_a_negative_number_is_a_value(argv):
    assert _parse("train", ["-solver", "s"] + argv).level == -1
    assert _parse("forward", ["-model", "m", "-output", "o", "-seed", "-5"]).seed == -5


def test_a_value_flag_takes_the_next_token_whatever_it_is():
    assert _parse("train", ["-solver", "-odd name.prototxt"]).solver == "-odd name.prototxt"


def test_double_dash_ends_the_flags():
    ns = _parse("inspect", ["-json", "--", "-shapes", "--json"])
    assert ns.json is True and ns.shapes is None and ns.files == ["-shapes", "--json"]


@pytest.mark.parametrize("argv,line", [
    (["train", "-solvr", "s.prototxt"], "tunewiz train: error: unknown flag -solvr; did you mean -solver?"),
    (["train", "--weigths=w"], "tunewiz train: error: unknown flag --weigths; did you mean --weights?"),
    (["train", "-sol", "s"], "tunewiz train: error: unknown flag -sol; did you mean -solver?"),  # no abbreviations
    (["convert_imageset", "-grey", "R/", "L", "D"],
     "tunewiz convert-imageset: error: unknown flag -grey; did you mean -gray?"),
    (["inspect", "--bogus", "x"], "tunewiz inspect: error: unknown flag --bogus; did you mean --json?"),
    (["test", "-nomodel"], "tunewiz test: error: unknown flag -nomodel; did you mean -model?"),
    (["device_query", "-gpus", "0"], "tunewiz device-query: error: unknown flag -gpus; did you mean -gpu?"),
])
def test_unknown_flag_is_one_line_with_the_nearest_flag(argv, line, capsys):
    with pytest.raises(SystemExit) as done:
        main(argv)
    captured = capsys.readouterr()
    assert done.value.code == 2 and captured.err == line + "\n" and captured.out == ""


@pytest.mark.parametrize("command", sorted(TOOLS) + ["attach"])
def test_unknown_flag_on_every_command(command, capsys):
    with pytest.raises(SystemExit) as done:
        main([command, "-no_such_flag_at_all"])
    err = capsys.readouterr().err
    assert done.value.code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"tunewiz {command}: error: unknown flag -no_such_flag_at_all")


@pytest.mark.parametrize("argv,needle", [(["inspect", "-json=maybe", "x"], "-json=maybe: a boolean flag takes true"),
                                         (["inspect", "-nojson=true", "x"], "-nojson takes no value")])
def test_a_bad_boolean_value_is_one_line(argv, needle, capsys):
    with pytest.raises(SystemExit) as done:
        main(argv)
    err = capsys.readouterr().err
    assert done.value.code == 2 and err.count("\n") == 1 and needle in err


@pytest.mark.parametrize("form", ["-h", "--help", "-help"])
def test_help_forms(form, capsys):
    with pytest.raises(SystemExit) as done:
        main(["train", form])
    out = capsys.readouterr().out
    assert done.value.code == 0 and out.startswith("usage: tunewiz train") and "-flag=value" in out
