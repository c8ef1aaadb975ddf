"""The package set-up: pyproject, README's two commands, .ci/run in step (issue 2); README's developer
tree naming every package, and a wheel that ships the sample (issue 17).

The wheel test builds the wheel from a copy of the project, installs it (no dependencies, no index)
into a fresh venv and, from a folder outside the repository, opens the sample the way the wizard's
first choice does.  The venv borrows the test environment's packages (numpy, protobuf, ...) through a
``.pth`` file rather than ``--system-site-packages``: that flag reaches the base interpreter's
packages, not this environment's, and a ``.pth`` line adds a folder without running the ``.pth``
files inside it, so the editable install of this repository stays out and ``tunewiz`` can only come
from the wheel.  Nothing is downloaded.
"""
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _bash_blocks() -> list[str]:
    return re.findall(r"```bash\n(.*?)\n```", (ROOT / "README.md").read_text(), re.S)


def test_readme_has_the_two_commands_and_ci_runs_the_test_one():
    install_and_open, install_and_test = _bash_blocks()[:2]
    assert install_and_open.startswith("pip install torch==2.13.0 && pip install -e .") and "tunewiz" in install_and_open
    assert "'.[test]'" in install_and_test and "pytest" in install_and_test
    ci = (ROOT / ".ci" / "run").read_text()
    assert install_and_test in ci, ".ci/run must run README's test command (keep the two in step)"
    assert ci.index("torch==2.13.0") < ci.index("pip install -e")
    assert "set -euo pipefail" in ci  # pytest's "no tests collected" (exit 5) fails the run


def _readme_tree() -> set[str]:
    """The folders of README's developer tree ("tunewiz/engine/layers"), from its names' indentation."""
    block = (ROOT / "README.md").read_text().split("## For developers", 1)[1].split("```")[1]
    folders, stack = set(), []
    for line in block.splitlines():
        named = re.match(r"((?:  ){0,4})([\w.]+)/ ", line)
        if named:
            depth = len(named.group(1)) // 2
            stack[depth:] = [named.group(2)]
            folders.add("/".join(stack))
    return folders


def test_readme_tree_names_every_package():
    packages = {p.parent.relative_to(ROOT).as_posix() for p in (ROOT / "tunewiz").rglob("__init__.py")}
    missing = sorted((packages | {"tests", "bench", "tools"}) - _readme_tree())
    assert not missing, f"README's 'For developers' tree has no line for {missing}"


@pytest.mark.skipif(sys.version_info < (3, 11), reason="tomllib is Python 3.11+")
def test_pyproject():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["name"] == "tunewiz" and project["requires-python"] == ">=3.10"
    assert project["scripts"] == {"tunewiz": "tunewiz.cli:main"}
    deps = {re.split(r"[<>=!\[ ]", d, maxsplit=1)[0] for d in project["dependencies"]}
    assert {"textual", "protobuf", "numpy", "lmdb", "torch", "opencv-python-headless"} <= deps
    assert deps & {"textual-plotext", "plotext"}
    extras = project["optional-dependencies"]
    assert {"test", "leveldb", "serve"} <= set(extras)
    assert any(d.startswith("plyvel") for d in extras["leveldb"])
    assert any(d.startswith("textual-serve") for d in extras["serve"])
    torch = next(d for d in project["dependencies"] if d.startswith("torch"))
    from packaging.specifiers import SpecifierSet  # pip's own rules

    assert "2.13.0" in SpecifierSet(torch.removeprefix("torch"))


def _cannot_build() -> str:
    """Why a wheel cannot be built offline here ('' when it can)."""
    try:
        import setuptools
        from packaging.version import Version
    except ImportError as exc:
        return f"{exc.name} is not installed (pip install -e '.[test]' brings it)"
    if Version(setuptools.__version__) < Version("70.1"):  # bdist_wheel without the 'wheel' package
        return f"setuptools {setuptools.__version__} < 70.1 (pip install -e '.[test]' brings a newer one)"
    return ""


def _run(argv, **kwargs) -> str:
    done = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=300, **kwargs)
    assert done.returncode == 0, f"{' '.join(map(str, argv))}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def _copy_project(dest: Path) -> None:
    """What the build reads; the build writes its build/ and egg-info into the copy, not the repository."""
    dest.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, dest / name)
    shutil.copytree(ROOT / "tunewiz", dest / "tunewiz", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def _fresh_venv(path: Path, wheel: Path) -> Path:
    """A venv holding the wheel, with this environment's packages borrowed; returns its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True, timeout=120)
    python = path / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", wheel])
    site = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).strip())
    borrowed = dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib"))
    (site / "_borrowed_test_env.pth").write_text("".join(f"{p}\n" for p in borrowed))
    return python


_OPEN_THE_SAMPLE = """
import sys
from pathlib import Path
import tunewiz
assert Path(tunewiz.__file__).resolve().is_relative_to(Path(sys.prefix).resolve()), tunewiz.__file__
from tunewiz.caffe.caffemodel import load_weights
from tunewiz.caffe.netio import read_net, read_solver
from tunewiz.wizard.state import WizardState
st = WizardState()
st.use_sample()  # the wizard's first choice
net, deploy, solver = read_net(st.net_src), read_net(st.deploy_src), read_solver(st.solver_src)
weights = load_weights(st.start_path)
images = Path(st.image_root)
listed = [line.split()[0] for name in ("train.txt", "val.txt")
          for line in (images.parent / name).read_text().splitlines()]
missing = [p for p in listed if not (images / p).is_file()]
assert not missing, missing[:5]
print(net.name, weights.param_count, len(listed), st.start_path)
"""


@pytest.mark.skipif(bool(_cannot_build()), reason=_cannot_build() or "builds")
def test_the_wheel_ships_the_sample(tmp_path):
    _copy_project(tmp_path / "project")
    _run([sys.executable, "-m", "pip", "wheel", tmp_path / "project", "--no-deps", "--no-build-isolation",
          "--no-index", "-w", tmp_path / "dist"])
    (wheel,) = (tmp_path / "dist").glob("tunewiz-*.whl")
    python = _fresh_venv(tmp_path / "venv", wheel)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["TUNEWIZ_RUNS"] = str(outside / "runs")
    name, params, images, weights = _run([python, "-c", _OPEN_THE_SAMPLE], cwd=outside, env=env).split()
    assert (name, int(params), int(images)) == ("LeNetDigits", 46175, 896)
    assert Path(weights).is_relative_to(tmp_path / "venv")
    shown = _run([python.parent / "tunewiz", "inspect", weights], cwd=outside, env=env)
    assert "a caffemodel" in shown and "ip2" in shown
    # the caffe compatibility package ships too, in its own folder, off sys.path until asked for
    folder = _run([python.parent / "tunewiz", "pycaffe", "--path"], cwd=outside, env=env).strip()
    assert Path(folder).is_relative_to(tmp_path / "venv")
    check = "import caffe; from caffe.proto import caffe_pb2; import caffe.io; print(caffe.__file__, caffe.TEST)"
    shown = _run([python, "-c", check], cwd=outside, env={**env, "PYTHONPATH": folder})
    assert shown.split() == [str(Path(folder) / "caffe" / "__init__.py"), "1"]

