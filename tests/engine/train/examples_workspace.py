"""Caffe's own examples in a working folder laid out as Caffe's root, shrunk, built from a seed.

Caffe's readmes run each example from Caffe's root (``./build/tools/caffe train --solver=examples/
mnist/lenet_solver.prototxt``).  ``build(dst, name)`` writes that layout for one example of
``EXAMPLES``, the same bytes on every machine (numpy's PCG64, tunewiz's LMDB/LevelDB writers and
fillers seeded through torch), so a fixture made once by real Caffe (``tests/fixtures/caffe_examples/
make_fixture.py``) compares with tunewiz anywhere:

- Caffe's prototxts (copied verbatim into ``tests/fixtures/caffe_examples/caffe/``) with only the data
  layers' ``batch_size`` and the solver's iteration counts edited, programmatically (``edit_net``,
  ``edit_solver``): ``test_iter``, ``test_interval``, ``max_iter``, ``display`` (1, so Caffe logs every
  iteration's loss) and ``solver_mode: CPU`` (the oracle is a CPU build: with ``GPU`` it aborts).
  Data paths stay Caffe's: the databases are made where the prototxts look for them;
- the databases as Caffe's converters write them: ``convert_mnist_data`` (LMDB, ``%08d`` keys, 1x28x28),
  ``convert_mnist_siamese_data`` (LevelDB, two digits as 2 channels, label = same digit),
  ``convert_cifar_data`` (LMDB, ``%05d`` keys, 3x32x32 planes as stored) and ``compute_image_mean``'s
  mean (tunewiz's own, checked against Caffe's in tests/data); small digit-like and colour pictures;
- the initial weights: the TRAIN net's fillers (tunewiz's, ``torch.manual_seed``), saved as a
  caffemodel that both ``caffe train -weights`` and ``tunewiz train -weights`` start from (Caffe's
  fillers draw from its own RNG, so one of the two must make them; weights shared by ``param { name }``
  are written under every layer, as a Caffe snapshot holds them).
"""
from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
FIX = HERE.parents[1] / "fixtures" / "caffe_examples"
ORIGINALS = FIX / "caffe"  # Caffe's files, verbatim, under their paths in Caffe's tree
SEED = 20261205
# 10 iterations of 8 = 80 records: whole epochs of the cifar10 train set, so the second command of
# train_quick.sh reads the same records whether the data cursor resumes (tunewiz's own snapshots) or
# starts again at the first record (a solverstate has no cursor: Caffe's resume)
N_MNIST, N_MNIST_TEST, N_CIFAR, N_CIFAR_TEST = 64, 32, 40, 24
COMMON = {"test_interval": 5, "max_iter": 10, "display": 1, "solver_mode": "CPU"}


@dataclass(frozen=True)
class Example:
    """One of Caffe's examples: its solver and net (paths in Caffe's tree), the data it reads, the new
    ``batch_size`` of each data layer (file order) and the solver's new iteration counts."""

    solver: str
    net: str
    data: str  # "mnist" | "siamese" | "cifar10"
    batches: tuple[int, ...]
    solver_edits: dict = field(default_factory=dict)
    # the readme's second command, resuming the first's last snapshot with another solver (its edits)
    resume: tuple[str, dict] | None = None

    @property
    def weights(self) -> str:
        """Where the initial weights go (beside the net)."""
        return str(Path(self.net).with_suffix("")) + "_init.caffemodel"

    def command(self, tool: str = "caffe") -> list[str]:
        """The readme's command (run from the working folder), with ``-weights``."""
        return [tool, "train", "-solver", self.solver, "-weights", self.weights]

    def resume_command(self, tool: str = "caffe") -> list[str]:
        """The second command: ``-snapshot`` of the first run's final solverstate (iteration renamed)."""
        solver, _ = self.resume
        text = (ORIGINALS / self.solver).read_text()
        ext = ".solverstate.h5" if re.search(r"^snapshot_format:\s*HDF5", text, flags=re.M) else ".solverstate"
        return [tool, "train", "-solver", solver, "-snapshot",
                f"{snapshot_prefix(text)}_iter_{self.solver_edits['max_iter']}{ext}"]

    def files(self) -> list[str]:
        """Caffe's files this example uses."""
        return [self.net, self.solver, *([self.resume[0]] if self.resume else [])]


EXAMPLES = {
    "mnist_lenet": Example("examples/mnist/lenet_solver.prototxt", "examples/mnist/lenet_train_test.prototxt",
                           "mnist", (8, 16), {"test_iter": [2], **COMMON}),
    "mnist_autoencoder": Example("examples/mnist/mnist_autoencoder_solver.prototxt",
                                 "examples/mnist/mnist_autoencoder.prototxt", "mnist", (8, 8, 16),
                                 {"test_iter": [2, 2], **COMMON}),
    "siamese": Example("examples/siamese/mnist_siamese_solver.prototxt",
                       "examples/siamese/mnist_siamese_train_test.prototxt", "siamese", (8, 16),
                       {"test_iter": [2], **COMMON}),
    "cifar10_quick": Example("examples/cifar10/cifar10_quick_solver.prototxt",
                             "examples/cifar10/cifar10_quick_train_test.prototxt", "cifar10", (8, 12),
                             {"test_iter": [2], **COMMON},
                             ("examples/cifar10/cifar10_quick_solver_lr1.prototxt",
                              {"test_iter": [2], **COMMON, "max_iter": 15})),
    # train_full.sh resumes "cifar10_full_iter_60000.solverstate", a name its HDF5 solver never writes
    # (real Caffe stops there too): the second command here names the file Caffe wrote
    "cifar10_full": Example("examples/cifar10/cifar10_full_solver.prototxt",
                            "examples/cifar10/cifar10_full_train_test.prototxt", "cifar10", (8, 12),
                            {"test_iter": [2], **COMMON},
                            ("examples/cifar10/cifar10_full_solver_lr1.prototxt",
                             {"test_iter": [2], **COMMON, "max_iter": 15})),
    "cifar10_full_sigmoid": Example("examples/cifar10/cifar10_full_sigmoid_solver.prototxt",
                                    "examples/cifar10/cifar10_full_sigmoid_train_test.prototxt", "cifar10",
                                    (8, 12), {"test_iter": [2], **COMMON}),
    "cifar10_full_sigmoid_bn": Example("examples/cifar10/cifar10_full_sigmoid_solver_bn.prototxt",
                                       "examples/cifar10/cifar10_full_sigmoid_train_test_bn.prototxt", "cifar10",
                                       (8, 12), {"test_iter": [2], **COMMON}),
}


def snapshot_prefix(solver_text: str) -> str:
    """A solver's ``snapshot_prefix`` (Caffe's examples set one)."""
    return re.search(r'^snapshot_prefix:\s*"([^"]+)"', solver_text, flags=re.M).group(1)


# -- the edits -------------------------------------------------------------------------------------
def edit_net(text: str, batches: tuple[int, ...]) -> str:
    """Caffe's net text with the i-th ``batch_size`` replaced by ``batches[i]``; nothing else changes."""
    sizes = iter(batches)
    out, count = re.subn(r"(batch_size:\s*)\d+", lambda m: f"{m.group(1)}{next(sizes)}", text)
    if count != len(batches):
        raise ValueError(f"the net has {count} batch_size fields, {len(batches)} sizes given")
    return out


def edit_solver(text: str, edits: dict) -> str:
    """Caffe's solver text with each ``field: value`` line of ``edits`` replaced in place (a list: the
    field's occurrences in order); a field the file lacks is appended."""
    for name, value in edits.items():
        values = iter(value if isinstance(value, list) else [value])
        want = len(value) if isinstance(value, list) else 1

        def put(m, values=values):
            return f"{m.group(1)}{next(values)}"
        text, count = re.subn(rf"^(\s*{name}:\s*)[^\s#]+", put, text, flags=re.M)
        if count == 0 and want == 1:
            text += f"{name}: {next(values)}\n"
        elif count != want:
            raise ValueError(f"the solver has {count} {name} fields, {want} values given")
    return text


# -- the data --------------------------------------------------------------------------------------
SEGMENTS = {  # seven-segment strokes: (row0, col0, row1, col1) on a 20x12 box
    "a": (0, 0, 0, 12), "b": (0, 12, 10, 12), "c": (10, 12, 20, 12), "d": (20, 0, 20, 12),
    "e": (10, 0, 20, 0), "f": (0, 0, 10, 0), "g": (10, 0, 10, 12),
}
DIGITS = ["abcdef", "bc", "abged", "abgcd", "fgbc", "afgcd", "afgedc", "abc", "abcdefg", "abfgcd"]


def digit_image(rng, label: int) -> np.ndarray:
    """A 28x28 uint8 digit-like picture: the digit's strokes, shifted and thickened at random, plus noise."""
    img = np.zeros((28, 28), np.float32)
    top, left, width = rng.integers(2, 6), rng.integers(5, 11), int(rng.integers(2, 4))
    for seg in DIGITS[label]:
        r0, c0, r1, c1 = SEGMENTS[seg]
        img[top + r0: top + r1 + width, left + c0: left + c1 + width] = rng.uniform(180, 255)
    img += rng.normal(0, 20, size=img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def colour_image(rng) -> np.ndarray:
    """A 3x32x32 uint8 picture (CIFAR's planes): smooth gradients plus noise."""
    yy, xx = np.mgrid[0:32, 0:32].astype(np.float32)
    base, slope = rng.uniform(30, 220, size=(3, 1, 1)), rng.uniform(-3, 3, size=(2, 3, 1, 1))
    img = base + yy * slope[0] + xx * slope[1] + rng.normal(0, 15, size=(3, 32, 32))
    return np.clip(img, 0, 255).astype(np.uint8)


def _write_db(path: Path, records, backend: str, key_format: str) -> None:
    """``records``: (C x H x W uint8, label); keys as the converter prints them."""
    from tunewiz.caffe import caffe_pb2
    from tunewiz.data.db_write import DBWriter

    writer = DBWriter(str(path), backend)
    for i, (chw, label) in enumerate(records):
        datum = caffe_pb2.Datum(channels=chw.shape[0], height=chw.shape[1], width=chw.shape[2],
                                data=chw.tobytes(), label=int(label))
        writer.put((key_format % i).encode(), datum.SerializeToString())
    writer.commit()
    writer.close()


def write_mnist(dst: Path, rng) -> None:
    """``examples/mnist/mnist_{train,test}_lmdb``, as ``create_mnist.sh`` makes them."""
    for split, count in (("train", N_MNIST), ("test", N_MNIST_TEST)):
        labels = rng.integers(0, 10, size=count)
        records = [(digit_image(rng, int(k))[None], k) for k in labels]
        _write_db(dst / "examples" / "mnist" / f"mnist_{split}_lmdb", records, "lmdb", "%08d")


def write_siamese(dst: Path, rng) -> None:
    """``examples/siamese/mnist_siamese_{train,test}_leveldb``: pairs, half of them the same digit."""
    for split, count in (("train", N_MNIST), ("test", N_MNIST_TEST)):
        records = []
        for i in range(count):
            first = int(rng.integers(0, 10))
            second = first if i % 2 == 0 else int((first + rng.integers(1, 10)) % 10)
            pair = np.stack([digit_image(rng, first), digit_image(rng, second)])
            records.append((pair, int(first == second)))
        _write_db(dst / "examples" / "siamese" / f"mnist_siamese_{split}_leveldb", records, "leveldb", "%08d")


def write_cifar10(dst: Path, rng) -> None:
    """``examples/cifar10/cifar10_{train,test}_lmdb`` and ``mean.binaryproto`` (``create_cifar10.sh``)."""
    from tunewiz.data.mean import compute_mean, write_mean

    folder = dst / "examples" / "cifar10"
    for split, count in (("train", N_CIFAR), ("test", N_CIFAR_TEST)):
        records = [(colour_image(rng), int(rng.integers(0, 10))) for _ in range(count)]
        _write_db(folder / f"cifar10_{split}_lmdb", records, "lmdb", "%05d")
    mean, _, _ = compute_mean(str(folder / "cifar10_train_lmdb"))
    write_mean(mean, str(folder / "mean.binaryproto"))


DATA = {"mnist": write_mnist, "siamese": write_siamese, "cifar10": write_cifar10}


# -- the working folder ----------------------------------------------------------------------------
def write_weights(dst: Path, example: Example, seed: int = SEED) -> None:
    """The TRAIN net's fillers, seeded, saved as the caffemodel both runs start from."""
    from tunewiz.caffe.netio import read_net
    from tunewiz.caffe.caffe_pb2 import TRAIN
    from tunewiz.engine.net.net import Net
    from tunewiz.engine.net.weights import save_caffemodel

    net = Net(read_net(dst / example.net), TRAIN, seed=seed, root=dst)
    try:
        save_caffemodel(net, dst / example.weights)
    finally:
        net.close()


def build(dst: Path, name: str) -> Path:
    """Write example ``name``'s working folder under ``dst``; return ``dst``."""
    example, dst = EXAMPLES[name], Path(dst)
    edits = [(example.net, lambda t: edit_net(t, example.batches)),
             (example.solver, lambda t: edit_solver(t, example.solver_edits))]
    if example.resume:
        edits.append((example.resume[0], lambda t: edit_solver(t, example.resume[1])))
    for path, edit in edits:
        (dst / path).parent.mkdir(parents=True, exist_ok=True)
        (dst / path).write_text(edit((ORIGINALS / path).read_text()))
    DATA[example.data](dst, np.random.default_rng(SEED))
    write_weights(dst, example)
    return dst


def copy_originals(caffe_root: Path) -> None:
    """Copy every example's prototxts verbatim from Caffe's source tree into the fixtures."""
    for example in EXAMPLES.values():
        for path in example.files():
            (ORIGINALS / path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(Path(caffe_root) / path, ORIGINALS / path)


# -- Caffe's log -----------------------------------------------------------------------------------
_DISPLAY = re.compile(r"\] Iteration (\d+) \(.*\), loss = (\S+)")
_FINAL = re.compile(r"\] Iteration (\d+), loss = (\S+)$")
_TEST = re.compile(r"\] Iteration (\d+), Testing net \(#(\d+)\)")
_OUTPUT = re.compile(r"\]\s+(Train|Test) net output #\d+: (\S+) = (\S+)")


def parse_log(text: str) -> dict:
    """Caffe's log as ``{"train": [{"iter", "loss" (smoothed), "outputs"}], "tests": [{"iter", "net",
    "outputs"}], "final": {"iter", "loss"}}`` (final: the forward pass after the last update that
    ``Solve`` logs): numbers as Caffe printed them (6 significant digits)."""
    train, tests, current, final = [], [], None, None
    for line in text.splitlines():
        if m := _FINAL.search(line):
            final = {"iter": int(m.group(1)), "loss": float(m.group(2))}
        elif m := _DISPLAY.search(line):
            current = {"iter": int(m.group(1)), "loss": float(m.group(2)), "outputs": {}}
            train.append(current)
        elif m := _TEST.search(line):
            current = {"iter": int(m.group(1)), "net": int(m.group(2)), "outputs": {}}
            tests.append(current)
        elif (m := _OUTPUT.search(line)) and current is not None:
            current["outputs"][m.group(2)] = float(m.group(3))
    return {"train": train, "tests": tests, "final": final}


def hdf5_listing(path) -> list[list]:
    """Every group and dataset of an HDF5 file: [name, "group"] or [name, shape, dtype(, strpad)], in
    h5py's order (the layout to compare with Caffe's; learned_net's text depends on the folder)."""
    import h5py

    out = []

    def visit(name, obj):
        if isinstance(obj, h5py.Group):
            out.append([name, "group"])
            return
        row = [name, list(obj.shape), obj.dtype.str]
        if obj.dtype.kind == "S":
            row.append(int(obj.id.get_type().get_strpad()))
        out.append(row)
    with h5py.File(str(path), "r") as handle:
        handle.visititems(visit)
    return out
