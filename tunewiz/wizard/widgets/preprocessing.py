"""The Net screen's question for a deploy-only net: how were the pretrained weights' images preprocessed?

A train_val states its preprocessing in its Data layers; a deploy does not, so the user names it: one of
the common choices (``core.MEAN_VALUES``), or the model's own mean file, and an optional scale.  The box
only reads and shows; the Net screen stores the answer in ``WizardState`` and plans again.
"""
from __future__ import annotations

from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Label, Select, Static

CHOICES = (
    ("Caffe ImageNet: BGR 0-255, mean 104/117/123", "imagenet"),
    ("the model's own mean file...", "mean_file"),
    ("nothing subtracted (mean 0)", "none"),
)
WHY = ("A deploy file does not record what its weights were trained on, and the wrong preprocessing makes "
       "the pretrained features meaningless: say how the model's images were prepared (its readme tells).")


class PreprocessingBox(Vertical):
    """Choice + mean file (for 'the model's own') + scale; shown by the Net screen for a deploy only."""

    DEFAULT_CSS = """
    PreprocessingBox { height: auto; }
    PreprocessingBox #pre-choice { width: 1fr; }
    """

    def __init__(self, state, **kwargs) -> None:
        super().__init__(**kwargs)
        self.state = state

    def compose(self):
        st = self.state
        yield Static("Pretrained preprocessing (a deploy: say it)", classes="section")
        yield Static(WHY, id="pre-why")
        yield Select(CHOICES, prompt="choose the preprocessing its weights learned", id="pre-choice",
                     value=st.preprocessing or Select.NULL, compact=True)
        with Horizontal(classes="row", id="pre-mean-row"):
            yield Label("mean file")
            yield Input(st.preprocessing_mean, placeholder="the model's mean.binaryproto", id="pre-mean-file",
                        compact=True)
        with Horizontal(classes="row"):
            yield Label("scale")
            yield Input("" if st.scale is None else f"{st.scale:g}", placeholder="optional, e.g. 0.017 or "
                        "0.00390625 (1/256)", id="pre-scale", compact=True)

    def on_mount(self) -> None:
        self.show_mean_row()

    def show_mean_row(self) -> None:
        self.query_one("#pre-mean-row").display = self.choice() == "mean_file"

    def choice(self) -> str:
        value = self.query_one("#pre-choice", Select).value
        return "" if value is Select.NULL or value is Select.BLANK else str(value)

    def read(self) -> tuple[str, str, float | None]:
        """(choice, mean file, scale); a ValueError names a scale that is not a number above 0."""
        text = self.query_one("#pre-scale", Input).value.strip()
        scale = None
        if text:
            try:
                scale = float(text)
            except ValueError:
                raise ValueError(f"scale must be a number, e.g. 0.017 (got '{text}').") from None
            if not 0 < scale < float("inf"):
                raise ValueError(f"scale must be more than 0 (got '{text}').")
        return self.choice(), self.query_one("#pre-mean-file", Input).value.strip(), scale
