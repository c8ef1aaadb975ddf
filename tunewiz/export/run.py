"""``export_files``: the deploy and its weights into the files asked for, each checked after writing.

One ``torch.export`` program is traced (``program``) for both the ``.pt2`` and the ONNX model, so both
hold the engine's semantics; each file is written beside its name, run on a random batch of
:data:`~tunewiz.export.verify.CHECK_BATCH` images (onnxruntime, ``torch.export.load``) and compared with
tunewiz's forward, and only renamed into place when it agrees within 1e-4 relative (``verify``).
The state dict is checked by loading it back, tensor for tensor.
"""
from __future__ import annotations

from dataclasses import dataclass

from tunewiz.export import files, verify
from tunewiz.export.errors import ExportError
from tunewiz.outputs import check_output


@dataclass
class Written:
    """One file written: its kind ("onnx", "torch", "state-dict"), path and how it agreed."""

    kind: str
    path: str
    agreement: verify.Agreement | None = None
    note: str = ""


@dataclass
class Targets:
    """The files asked for (None: not wanted) and ``--force``."""

    onnx: str | None = None
    torch: str | None = None
    state_dict: str | None = None
    force: bool = False

    def check(self) -> None:
        """Before any work: something to write, the extra for ONNX, and targets that may be written."""
        from tunewiz.export.extra import require_onnx

        wanted = [(flag, path) for flag, path in (("--onnx", self.onnx), ("--torch", self.torch),
                                                   ("--state-dict", self.state_dict)) if path]
        if not wanted:
            raise ExportError("nothing to write: give --onnx OUT.onnx, --torch OUT.pt2 and/or --state-dict OUT.pt")
        paths = [path for _, path in wanted]
        if len(set(paths)) != len(paths):
            raise ExportError("give each output its own file name")
        if self.onnx:
            require_onnx()
        for flag, path in wanted:
            check_output(path, self.force, flag)


def export_files(model: str, weights: str, targets: Targets, outputs: list[str] | None = None) -> list[Written]:
    """Export ``model`` with ``weights`` into ``targets``; ``outputs``: blobs to return (default the net's
    outputs).  Raises ExportError (nothing replaced) when a layer cannot be exported with the same numbers."""
    from tunewiz.export.deploy import load_deploy
    from tunewiz.export.program import DeployModule, export_program, input_names
    from tunewiz.export.refusals import check_exportable

    targets.check()
    net, _ = load_deploy(model, weights)
    inputs = input_names(net)
    outputs = _outputs(net, outputs)
    check_exportable(net, inputs, outputs)
    done = []
    if targets.state_dict:
        done.append(_write_state_dict(net, targets.state_dict))
    if targets.onnx or targets.torch:
        program = export_program(DeployModule(net, inputs, outputs))
        arrays = verify.random_inputs(net, inputs)
        ref = verify.reference(net, inputs, arrays, outputs)
        if targets.torch:
            done.append(_write_program(program, targets.torch, inputs, outputs, arrays, ref))
        if targets.onnx:
            done.append(_write_onnx(program, targets.onnx, inputs, outputs, arrays, ref))
    return done


def _outputs(net, wanted: list[str] | None) -> list[str]:
    if not wanted:
        return list(net.output_names)
    known = set(net.blob_shapes)
    unknown = [name for name in wanted if name not in known]
    if unknown:
        raise ExportError(f"--outputs {', '.join(unknown)}: no such blob; the net has {', '.join(net.blob_shapes)}")
    return list(dict.fromkeys(wanted))


def _agreeing(kind: str, path: str, agreement: verify.Agreement) -> verify.Agreement:
    if not agreement.ok:
        raise ExportError(f"{path}: the {kind} differs from tunewiz's forward on output '{agreement.worst}' "
                          f"({agreement.text()}, more than {verify.TOLERANCE:g} relative); not written")
    return agreement


def _write_program(program, path, inputs, outputs, arrays, ref) -> Written:
    from tunewiz.export.torch_file import foreign_calls, save_program

    foreign = foreign_calls(program)
    if foreign:
        raise ExportError(f"{path}: the program would call {', '.join(sorted(set(foreign)))}, which needs "
                          "tunewiz to run; not written")

    def check(tmp):
        return _agreeing("torch.export program", path, verify.compare(ref, verify.run_program(tmp, arrays), outputs))

    agreement = files.write_checked(path, lambda tmp: save_program(program, tmp, inputs, outputs), check)
    return Written("torch", path, agreement)


def _write_onnx(program, path, inputs, outputs, arrays, ref) -> Written:
    import onnx

    from tunewiz.export.extra import OPSET
    from tunewiz.export.onnx_file import onnx_model

    model = onnx_model(program, inputs, outputs)

    def check(tmp):
        got = verify.run_onnx(tmp, inputs, arrays, outputs)
        return _agreeing("ONNX model", path, verify.compare(ref, got, outputs))

    agreement = files.write_checked(path, lambda tmp: onnx.save_model(model, str(tmp)), check)
    return Written("onnx", path, agreement, f"opset {OPSET}")


def _write_state_dict(net, path) -> Written:
    import torch

    from tunewiz.export.torch_file import save_state_dict

    saved = {}

    def check(tmp):
        back = torch.load(str(tmp), weights_only=True)
        if list(back) != list(saved) or any(not torch.equal(back[k], saved[k]) for k in saved):
            raise ExportError(f"{path}: the state dict read back differs from the net's blobs; not written")
        return None

    files.write_checked(path, lambda tmp: saved.update(save_state_dict(net, tmp)), check)
    return Written("state-dict", path, note=f"{len(saved)} tensors")
