"""Data that cannot fit the net: one message with what the data holds, what the net needs, and the fix.

``check_data_fit(net_param, root=, weights=)`` runs before a net is built (``tunewiz train``'s nets,
``tunewiz finetune``'s and the wizard's start checks).  Per Data/ImageData layer it compares the
first record (C x H x W, before crop and mean; see ``datafit_probe``) with what the net needs:

* crop: Caffe's ``DataTransformer`` checks ``crop_size <= height`` and ``<= width`` of every image;
* channels: the pretrained weights of the first convolution after the data (C_in = blob 0's axis 1
  x group; Deconvolution: axis 0), else the ``mean_file`` (Caffe: the mean must be C x H x W of the
  records), must have the records' channel count;
* size: the net is built on the ``meta`` device with the records' size (crop_size x crop_size when
  cropping); when a layer stops there (``output size ... is not positive``), the smallest square size
  at which every layer has a positive output is searched (doubling, then bisection).  With weights,
  the sizes at which every size-dependent blob (an InnerProduct after the convolutions) has the
  stored shape are searched too (their count grows with the size, so bisection finds the window),
  and the largest of them is proposed; a net that builds at the records' size but whose weights fit
  only another size is reported the same way.

Nothing is said when the probes cannot read something or no size helps: the normal build then stops
with its own message (e.g. a layer's "output size ... is not positive" for a net that is wrong as
written), so each problem is reported once.
"""
from __future__ import annotations

import math
import re

from tunewiz.engine.checks.datafit_probe import (Source, build_at, data_consumers, in_channels, mean_shape, read_sources,
                                          weight_blobs, weights_fit)
from tunewiz.errors import TunewizError

LIMIT = 8192  # the largest side searched (meta-device builds cost no memory, only milliseconds)


class DataFitError(TunewizError):
    """The records cannot go through the net: the message says what they are, what is needed, the fix.

    ``records``: the C x H x W the records must be converted to when that is the fix (else None), for
    front ends that convert themselves (the wizard's Data step)."""

    def __init__(self, message: str, records: tuple[int, int, int] | None = None):
        super().__init__(message)
        self.records = records


def _x(*dims) -> str:
    return "x".join(str(int(d)) for d in dims)


def check_data_fit(net_param, *, root=None, weights=()) -> None:
    """Raise :class:`DataFitError` when a data layer's records cannot fit the net of ``net_param.state``."""
    from tunewiz.engine.net.net import prepare

    try:
        prepared = prepare(net_param, net_param.state.phase, net_param.state.level)
    except Exception:  # noqa: BLE001 - the build reports a net that cannot be prepared
        return
    sources = read_sources(prepared, prepared.state.phase, root)
    if not sources:
        return
    stored = weight_blobs(weights) if weights else {}
    phase = "TRAIN" if prepared.state.phase == 0 else "TEST"
    fit = _Fit(prepared, sources, stored)
    for src in sources:
        message, records = fit.problem(src, root)
        if message:
            raise DataFitError(f"the data does not fit the net: layer '{src.layer.name}' ({phase}) reads "
                               f"{_what(src)}, whose first record is {_x(*src.chw)} (C x H x W), {message}", records)


def _what(src: Source) -> str:
    return f"the image list '{src.path}'" if src.image_data else f"the database '{src.path}'"


class _Fit:
    """The channels and size the net needs from every source, found once for all of them."""

    def __init__(self, prepared, sources: list[Source], stored: dict):
        self.prepared, self.sources, self.stored = prepared, sources, stored
        self.confirmed: set[int] = set()  # sources whose channels the weights confirm
        self.channels = {s.index: self._channels(s) for s in sources}
        self.size = self._size()  # (target side, why) or None when the records' size is fine

    # -- channels ------------------------------------------------------------------------------------
    def _channels(self, src: Source) -> tuple[int, str]:
        """(channels the net needs from ``src``, why) — the records' own count and "" when they agree."""
        c = src.chw[0]
        for lp in data_consumers(self.prepared, src.layer.top[0]) if len(src.layer.top) else []:
            entry = self.stored.get(lp.name)
            want = in_channels(lp, entry[1][0].stored_shape) if entry else None
            if want is not None:
                if want == c:  # the weights agree with the records: a mean of other channels is the mean's fault
                    self.confirmed.add(src.index)
                    return c, ""
                return want, (f"the pretrained weights of layer '{lp.name}' ({entry[0]}) take {_chan(want)}, "
                              f"the records have {_chan(c)}")
        return c, ""

    def _inputs(self, side: int | None = None) -> dict:
        """Each source's net input (C, H, W): ``side`` x ``side``, else crop x crop, else the records' H x W."""
        out = {}
        for s in self.sources:
            c = self.channels[s.index][0]
            h, w = (side, side) if side else (s.crop, s.crop) if s.crop else s.chw[1:]
            out[s.index] = (c, h, w)
        return out

    # -- size ----------------------------------------------------------------------------------------
    def _size(self) -> tuple[int, str] | None:
        net, error = build_at(self.prepared, self.sources, self._inputs())
        first = self.sources[0]
        at = _x(first.crop, first.crop) if first.crop else _x(*first.chw[1:])
        if net is None:
            smallest = self._smallest()
            if smallest is None:
                return None  # no size helps: not the data's fault; the build says what is wrong
            why = f"at {at}, {_short(error)}; every layer's output is positive from {_x(smallest, smallest)} up"
            window = self._window(smallest) if self.stored else None
            if window is None:
                return smallest, why
            return window[1], why + f", and {window[2]} fit only {_range(window)}"
        bad = weights_fit(net, self.stored) if self.stored else []
        if not bad:
            return None
        window = self._window(self._smallest() or 1)
        if window is None:
            return None  # the weights do not fit at any size: the weight copy explains that (rename the layer)
        return window[1], (f"at {at}, {window[2]} do not fit (Caffe would stop copying them: shape mismatch); "
                           f"they fit only {_range(window)}")

    def _builds(self, side: int):
        return build_at(self.prepared, self.sources, self._inputs(side))[0]

    def _smallest(self) -> int | None:
        """The smallest square side at which the net builds (doubling to a side that does, then bisection)."""
        hi = max(8, *(max(s.chw[1:]) for s in self.sources))
        while self._builds(hi) is None:
            hi *= 2
            if hi > LIMIT:
                return None
        lo = 0
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if self._builds(mid) is not None else (mid, hi)
        return hi

    def _window(self, smallest: int) -> tuple[int, int, str] | None:
        """(first, last side, which weights) at which the stored weights fit the net; None when no side does."""
        low, high = self._builds(smallest), self._builds(2 * smallest + 7)
        if low is None or high is None:
            return None
        grows = [(layer.name, j) for layer, other in zip(low.layers, high.layers) if layer.name in self.stored
                 for j, (a, b) in enumerate(zip(layer.blobs, other.blobs)) if a.numel() != b.numel()]
        if not grows:
            return None  # the size changes no stored blob: resizing cannot make these weights fit

        def sign(side: int, missing: int) -> int:
            """-1: some growing blob is smaller than stored; 1: none smaller, some larger; 0: all equal."""
            net = self._builds(side)
            if net is None:
                return missing
            signs = set()
            for name, j in grows:
                layer = next(l for l in net.layers if l.name == name)
                blobs = self.stored[name][1]
                if j >= len(blobs):
                    return 2
                have, want = layer.blobs[j].numel(), math.prod(blobs[j].stored_shape)
                signs.add((have > want) - (have < want))
            return -1 if -1 in signs else (1 if 1 in signs else 0)

        first = _bisect(smallest, lambda s: sign(s, -1) >= 0)
        if first is None or sign(first, -1) != 0:
            return None
        last = _bisect(first, lambda s: sign(s, 1) > 0)
        last = (last - 1) if last is not None else first
        net = self._builds(last)
        if net is None or weights_fit(net, self.stored):
            return None
        names = sorted({name for name, _ in grows})
        files = sorted({self.stored[n][0] for n in names})
        return first, last, (f"the pretrained weights of layer {', '.join(repr(n) for n in names)} "
                             f"({', '.join(files)})")

    # -- one source's message --------------------------------------------------------------------------
    def problem(self, src: Source, root) -> tuple[str, tuple[int, int, int] | None]:
        """The rest of the message for ``src`` ("but the net ... Fix: ...", "" when it fits) and the C x H x W
        to convert the records to when that is part of the fix."""
        c, h, w = src.chw
        want_c, c_why = self.channels[src.index]
        side = self.size[0] if self.size else None
        crop_over = bool(src.crop) and (src.crop > h or src.crop > w)
        small = side is not None and (src.crop or min(h, w)) != side
        mean = mean_shape(src.layer, root)
        mean_off = mean is not None and mean[0] != want_c and not c_why
        if not (c_why or small or crop_over or mean_off):
            return "", None
        if mean_off and not (small or crop_over):
            return self._mean_problem(src, mean), None
        net_side = side if small else src.crop or None
        needs = _x(want_c, net_side, net_side) if net_side else _x(want_c, h, w)
        reasons = [r for r in (c_why, self.size[1] if small else "") if r]
        if crop_over:
            reasons.insert(0, f"crop_size {src.crop} is larger than the {_x(h, w)} images (Caffe: crop_size must "
                              f"be <= the image size)")
        fix, records = self._fix(src, want_c, side if small else None, crop_over)
        if mean is not None and tuple(mean) != records:  # Caffe: the mean is C x H x W of the records
            fix += (f"; then compute their mean again (it must be {_x(*records)}, like the records): tunewiz "
                    f"compute-image-mean {'DB' if src.image_data else src.path} {src.layer.transform_param.mean_file} "
                    "--force")
        return f"but the net expects {needs}: {'; '.join(reasons)}. Fix: {fix}", records if records != src.chw else None

    def _mean_problem(self, src: Source, mean) -> str:
        c = src.chw[0]
        file = src.layer.transform_param.mean_file
        fix = ""
        if src.index not in self.confirmed and mean[0] in (1, 3):
            fix = self._records(src, mean[0], tuple(src.chw[1:])) + ", or "
        db = src.path if not src.image_data else "DB"
        return (f"but its mean_file '{file}' is {_x(*mean)}: {_chan(mean[0])}, the records have {_chan(c)} (Caffe "
                f"subtracts the mean pixel by pixel). Fix: {fix}compute the mean of these records: "
                f"tunewiz compute-image-mean {db} {file} --force")

    def _fix(self, src: Source, c: int, side: int | None, crop_over: bool) -> tuple[str, tuple[int, int, int]]:
        """What to change (crop_size, the records) and the C x H x W the records have afterwards."""
        h, w = src.chw[1:]
        name, recolor = src.layer.name, c != src.chw[0]
        if not src.crop or (side is None and not crop_over):
            size = (side, side) if side else (h, w)
            return self._records(src, c, size), (c, *size)
        want = side or src.crop  # the crop is what the net sees
        parts = [f"set crop_size: {side} in layer '{name}'"] if side else []
        size = (h, w)
        if want > min(h, w) or recolor:
            size = (max(h, want), max(w, want))
            parts.append(self._records(src, c, size))
        fix = " and ".join(parts)
        if crop_over and side is None and not recolor:
            net = self._builds(min(h, w))
            if net is not None and not weights_fit(net, self.stored):
                fix = f"lower crop_size to {min(h, w)} in layer '{name}' (at most the image size), or {fix}"
        return fix, (c, *size)

    def _records(self, src: Source, c: int, size: tuple[int, int]) -> str:
        """How to get records of ``c`` channels at ``size``: the ImageData fields, or the conversion (the
        user's own database and list where the layer names them; ROOT/ and LIST where a database cannot say)."""
        if c not in (1, 3):
            return f"make records of {_chan(c)} at {_x(*size)}"
        gray = " --gray" if c == 1 else ""
        flags = f"{gray} --resize_height {size[0]} --resize_width {size[1]}"
        if src.image_data:
            fields = [f"new_height: {size[0]} new_width: {size[1]}"] if tuple(size) != tuple(src.chw[1:]) else []
            if c != src.chw[0]:
                fields.append(f"is_color: {'false' if c == 1 else 'true'}")
            folder = src.layer.image_data_param.root_folder or "ROOT/"
            return (f"set {' '.join(fields)} in image_data_param of layer '{src.layer.name}' (applied as the images "
                    f"are read), or convert them once: tunewiz convert-imageset{flags} {folder} {src.path} NEW_DB "
                    "and read NEW_DB with a Data layer")
        how = "" if c == src.chw[0] else "with --gray" if c == 1 else "without --gray"
        return (f"convert the images again{' ' + how if how else ''} at {_x(*size)} (delete '{src.path}' first: a "
                f"database is never overwritten): tunewiz convert-imageset{flags} ROOT/ LIST {src.path}")


def _bisect(start: int, ok) -> int | None:
    """The smallest side >= ``start`` for which ``ok`` holds (doubling, then bisection), or None."""
    if ok(start):
        return start
    lo, hi = start, start * 2
    while not ok(hi):
        lo, hi = hi, hi * 2
        if hi > LIMIT:
            return None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if ok(mid) else (mid, hi)
    return hi


def _range(window) -> str:
    first, last = window[0], window[1]
    return f"{_x(first, first)} to {_x(last, last)}" if first != last else _x(first, first)


def _chan(c: int) -> str:
    return {1: "1 channel (gray)", 3: "3 channels (colour)"}.get(c, f"{c} channels")


def _short(error) -> str:
    """A layer's build error, cut to the layer and its first clause: "layer 'conv2' (Convolution): output ..."."""
    text = str(error)
    match = re.match(r"(layer '[^']*' \([^)]*\): .*?)(?: with |; |: the kernel|$)", text)
    return match.group(1) if match else text
