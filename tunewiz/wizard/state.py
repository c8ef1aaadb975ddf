"""What the user chose so far, shared by the wizard's screens (no textual here)."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from tunewiz.sample_models import LENET_DIGITS

SAMPLE_DIR = LENET_DIGITS


def default_runs_root() -> Path:
    """Where run folders live: ``$TUNEWIZ_RUNS`` or ``./runs``."""
    return Path(os.environ.get("TUNEWIZ_RUNS", "runs")).resolve()


@dataclass
class WizardState:
    runs_root: Path = field(default_factory=default_runs_root)
    run_name: str = "run1"
    sample: bool = False
    # step 2: data
    image_root: str = ""
    train_db: str = ""
    val_db: str = ""
    mean_file: str = ""
    backend: str = "lmdb"
    resize: tuple[int, int] = (0, 0)  # (width, height) proposed for the conversion
    classes: list[str] = field(default_factory=list)
    val_count: int = 0
    skipped: int = 0
    # step 3: net
    net_src: str = ""
    deploy_src: str = ""
    net_kind: str = ""  # 'train_val' or 'deploy' (recipe.from_deploy.kind_of on the loaded source)
    # a deploy's pretrained preprocessing, which it does not record: '' (not chosen yet), 'imagenet',
    # 'mean_file' (the model's own, in preprocessing_mean) or 'none'; scale optional (core.PREPROCESSING)
    preprocessing: str = ""
    preprocessing_mean: str = ""
    scale: float | None = None
    net_plan: object = None  # the recipe's NetPlan (tunewiz.recipe.finetune.plan_net) the Net screen shows
    output_layer: str = ""
    new_name: str = ""
    freeze_through: str = ""
    gpu_memory: str = ""
    # where training runs (core.device_options): '' the recipe's default, 'cpu', 'one', 'several', 'all';
    # gpu_ids for one/several ("0,1"); gpus: the visible GPUs (engine.devices.Gpu), listed once (None: not yet)
    device: str = ""
    gpu_ids: str = ""
    gpus: list | None = None
    new_mean: bool = False  # use the Data step's mean instead of the pretrained net's preprocessing
    # step 4: solver; None = the recipe's proposal, a value = the user's own edit (FinetuneOptions' names)
    solver_src: str = ""
    solver_stage: object = None  # the recipe's SolverStage (plan_solver) the Solver screen shows
    lr_divisor: float = 10.0
    base_lr: float | None = None
    max_iter: int | None = None
    snapshot_every: int | None = None
    stepsize: int | None = None
    test_iter: int | None = None
    test_interval: int | None = None
    default_max_iter: int | None = None  # the sample's proposal (None: keep the solver's)
    numerics: str = "caffe"  # FinetuneOptions.numerics: Caffe's summation order, or torch's kernels
    # step 5: start
    start_kind: str = "weights"  # weights | model | snapshot
    start_path: str = ""
    options: object = None  # the FinetuneOptions the run was started with (the Done screen's command)
    written: dict = field(default_factory=dict)  # name -> path of the files written

    @property
    def run_dir(self) -> Path:
        return self.runs_root / self.run_name

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def net(self):
        """The edited train_val copy (the Net stage's result, never edited here), or None."""
        return self.net_plan.net if self.net_plan is not None else None

    @property
    def solver(self):
        """The edited solver copy (the Solver stage's result), or None."""
        return self.solver_stage.solver if self.solver_stage is not None else None

    def use_sample(self) -> None:
        """Fill the inputs from the bundled sample (LeNet on digits 0-4 -> 5-9)."""
        self.sample = True
        self.run_name = next_run_name(self.runs_root, "digits59")
        d = SAMPLE_DIR
        self.image_root = str(_first_existing(d, "images", "digits_5_9", "data"))
        self.net_src = str(_first_glob(d, "*train_val*.prototxt"))
        self.deploy_src = str(_first_glob(d, "*deploy*.prototxt"))
        self.solver_src = str(_first_glob(d, "*solver*.prototxt"))
        self.start_kind = "weights"
        self.start_path = str(_first_glob(d, "*.caffemodel"))
        self.resize = (20, 20)  # the sample's README: 8x8 digits -> LeNet's 20x20 input
        self.default_max_iter = 100


def _first_existing(base: Path, *names: str) -> Path:
    for name in names:
        if (base / name).is_dir():
            return base / name
    subdirs = sorted(p for p in base.glob("*") if p.is_dir()) if base.is_dir() else []
    return subdirs[0] if subdirs else base / names[0]


def _first_glob(base: Path, pattern: str) -> Path | str:
    found = sorted(base.glob(pattern)) if base.is_dir() else []
    return found[0] if found else ""


def next_run_name(root: Path, stem: str) -> str:
    """``stem``, or ``stem-2``, ``stem-3`` … whichever folder does not exist yet."""
    name, n = stem, 1
    while (Path(root) / name).exists():
        n += 1
        name = f"{stem}_{n}"
    return name
