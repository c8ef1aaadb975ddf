"""The Net screen's device choice: the CPU, one GPU, several GPUs or all of them, from the GPUs this machine shows.

The list comes from the core (``core.visible_gpus``: torch.cuda is asked there, never here).  The box only
reads and shows; the Net screen stores the choice in ``WizardState`` (``device``, ``gpu_ids``), which
``core.device_options`` turns into ``FinetuneOptions.gpu`` / ``mode``: the trainer's ``--gpu``.
"""
from __future__ import annotations

from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Label, Select, Static

WHY = ("Each GPU trains its own copy of the net on the whole batch_size, as in Caffe: with N GPUs an iteration "
       "sees N x batch_size images and averages their gradients. tunewiz, like Caffe, leaves base_lr as it "
       "is. The batch advisor below counts one GPU's memory: the smallest of those chosen.")
NO_GPU = "No CUDA GPU is visible here (torch sees none): training runs on the CPU."


def choices(count: int) -> list[tuple[str, str]]:
    """The Select's (label, value) pairs for ``count`` visible GPUs."""
    if not count:
        return [("CPU (no GPU visible)", "cpu")]
    many = [("several GPUs", "several"), (f"all {count} GPUs", "all")] if count > 1 else []
    return [("CPU", "cpu"), ("one GPU", "one")] + many


class DeviceBox(Vertical):
    """The visible GPUs, the choice, and the GPU ids (for one/several); the default is what the recipe does
    unasked: GPU 0 where there is a GPU, else the CPU."""

    DEFAULT_CSS = """
    DeviceBox { height: auto; }
    DeviceBox #device { width: 1fr; }
    """

    def __init__(self, state, gpus, **kwargs) -> None:
        super().__init__(**kwargs)
        self.state = state
        self.ids = [g.index for g in gpus]
        self.listing = "\n".join(g.label() for g in gpus) or NO_GPU
        self.default = ("one", str(self.ids[0])) if self.ids else ("cpu", "")

    def compose(self):
        st = self.state
        choice, ids = (st.device, st.gpu_ids) if st.device else self.default
        yield Static("Device (where training runs)", classes="section")
        yield Static(self.listing, id="device-list", markup=False)
        yield Select(choices(len(self.ids)), value=choice, allow_blank=False, id="device", compact=True)
        with Horizontal(classes="row", id="gpu-ids-row"):
            yield Label("GPU ids")
            yield Input(ids, placeholder="e.g. 0,1", id="gpu-ids", compact=True)
        yield Static(WHY if self.ids else "", id="device-why")

    def on_mount(self) -> None:
        self.query_one("#gpu-ids-row").display = self.choice() in ("one", "several")

    def on_select_changed(self, event: Select.Changed) -> None:
        """Show the ids for one/several, filled with ids that fit the choice (the event goes on to the screen)."""
        if event.select.id != "device":
            return
        choice, field = self.choice(), self.query_one("#gpu-ids", Input)
        self.query_one("#gpu-ids-row").display = choice in ("one", "several")
        given = [i for i in field.value.split(",") if i.strip()]
        if choice == "one" and len(given) != 1:
            field.value = str(self.ids[0])
        elif choice == "several" and len(given) < 2:
            field.value = ",".join(map(str, self.ids))

    def choice(self) -> str:
        return str(self.query_one("#device", Select).value)

    def read(self) -> tuple[str, str]:
        """(device, gpu ids) as ``WizardState`` keeps them: ('', '') for the default (no flag is written)."""
        chosen = (self.choice(), self.query_one("#gpu-ids", Input).value.strip())
        if chosen[0] not in ("one", "several"):
            chosen = (chosen[0], "")
        return ("", "") if chosen == self.default else chosen
