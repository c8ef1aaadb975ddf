"""A run whose nets do not fit in memory is refused before they are built, with a batch that fits.

* :func:`check_training` (the trainer, before its nets are built): the TRAIN net with its gradients and
  the solver's history, and every test net it is given (their NetParameters, read by
  :mod:`tunewiz.engine.train.nets`) — a test runs while the TRAIN net's last values are still
  held, so its peak is ``fixed + B * A_train + B_test * A_test`` (:mod:`tunewiz.engine.checks.memfit`);
* :func:`check_inference`: ``tunewiz test`` and ``forward`` (no gradients), ``tunewiz time``
  (forward + backward, no solver).

The free memory is :func:`tunewiz.engine.checks.memory.free_memory` (RAM, or the GPU's; on a GPU the data
layers' buffers are in RAM and are checked there).  The proposal is the largest batch that fits,
split by :mod:`tunewiz.engine.checks.batchsplit` (the rule of the trainer's out-of-memory message and of the
recipe's batch advisor): batch_size b with iter_size k for training, with test_iter or --iterations
scaled to score the same images for testing.  :func:`allocation_error` is the message for an
allocation that fails anyway (the estimate is from shapes: scratch memory of a layer is not in it).
"""
from __future__ import annotations

import contextlib

from tunewiz.engine.checks import batchsplit, memory
from tunewiz.engine.checks.memfit import GPU_RESERVE, HISTORY, SAFETY, NetCount, count, largest_fit
from tunewiz.engine.checks.memory import MemoryFitError, human

_SKIP = " (Estimated from the shapes; TUNEWIZ_MEMORY_CHECK=off skips the check.)"


def _where(device) -> str:
    text = str(device)
    return "the CPU" if text.split(":")[0] == "cpu" else f"GPU {text.partition(':')[2] or '0'}"


def _free_text(free, device) -> str:
    place = "of RAM" if str(device).split(":")[0] == "cpu" else f"on {_where(device)}"
    return f"{human(free.bytes)} {place} is free ({free.source})"


def _budgets(device):
    """(device Free, host Free or None when the device is the host); None when nothing can be read."""
    if not memory.check_enabled():
        return None
    free = memory.free_memory(device)
    if free is None:
        return None
    on_gpu = str(device).startswith("cuda")
    return free, (memory.host_free() if on_gpu else None)


def _batch(c: NetCount) -> str:
    if c.data_type == "Input":
        return f"the Input shape {'x'.join(map(str, c.data_shape))} (layer '{c.data_layer}')"
    if not c.data_layer:
        return "the net"
    return f"batch_size {c.batch} of layer '{c.data_layer}'"


def _terms(c: NetCount, model, host: bool) -> str:
    terms = model.lines()
    if host and c.host_per_image:
        terms.append(f"data prefetch: {human(c.host_per_image)} per image")
    return "; ".join(terms)


def _refusal(what: str, c: NetCount, need: float, free, device, terms: str, advice: str) -> MemoryFitError:
    return MemoryFitError(f"{what} does not fit in memory: {_batch(c)} needs about {human(need)} ({terms}), and "
                          f"{_free_text(free, device)}. {advice}{_SKIP}")


def _nothing_fits(c: NetCount, one: float, params: float) -> str:
    said = f"Even one image needs {human(one)}, {human(params)} of it for the parameters: "
    if c.data_type == "Input":
        return said + f"make the Input shape of layer '{c.data_layer}' smaller, or use a machine with more memory."
    return said + "use a smaller input size (crop_size, new_height/new_width) or net, or a machine with more memory."


def _largest(fits, high: int) -> int:
    """The largest x in 1..high with fits(x) (fits grows false with x); 0 when not even 1 fits."""
    if not fits(1):
        return 0
    low = 1
    while low < high:
        mid = (low + high + 1) // 2
        low, high = (mid, high) if fits(mid) else (low, mid - 1)
    return low


class _Peak:
    """Bytes at the peak of training: every data layer's buffers, the parameters, and the larger of a training
    pass (values + gradients) and of each test (its values next to the TRAIN net's last values)."""

    def __init__(self, model, train: NetCount, tests: list[tuple[int, NetCount]], on_cpu: bool):
        host = train.host_per_image if on_cpu else 0.0
        self.fixed, self.train = model.fixed_bytes, model.per_image_bytes + host
        self.held = 4 * train.per_image + host
        self.tests = [(4 * t.per_image, t.host_per_image if on_cpu else 0.0) for _, t in tests]

    def need(self, batch: int, test_batches: list[int]) -> float:
        feeds = sum(h * b for (_, h), b in zip(self.tests, test_batches))
        peak = max([batch * self.train] + [batch * self.held + a * b for (a, _), b in zip(self.tests, test_batches)])
        return self.fixed + feeds + peak


def check_training(sp, train_param, device, root=None, test_params=()) -> None:
    """Raise MemoryFitError when the solver's nets (``train_param`` and the NetParameters of its test nets)
    cannot be trained in the free memory of ``device``."""
    budgets = _budgets(device)
    if budgets is None:
        return
    train = count(train_param, root)
    if train is None:
        return
    tests = _test_counts(test_params, root)
    free, host_free = budgets
    on_cpu = host_free is None
    model = train.model(HISTORY.get(sp.type or "SGD", 1), 0 if on_cpu else GPU_RESERVE)
    peak, batches, budget = _Peak(model, train, tests, on_cpu), [t.batch for _, t in tests], free.bytes * SAFETY
    need = peak.need(train.batch, batches)
    if need > budget:
        # the batch to change: the net whose own part of the peak is the largest
        parts = [train.batch * peak.train] + [b * (a + h) for (a, h), b in zip(peak.tests, batches)]
        worst = max(range(len(parts)), key=parts.__getitem__)
        if worst == 0:
            fit = _largest(lambda b: peak.need(b, batches) <= budget, train.batch)
            raise _refusal(f"the TRAIN net '{train.name}'", train, need, free, device,
                           _terms(train, model, on_cpu), _train_advice(sp, train, fit, peak, batches, model))
        i, test = tests[worst - 1]
        fit = _largest(lambda b: peak.need(train.batch, batches[:worst - 1] + [b] + batches[worst:]) <= budget,
                       test.batch)
        raise _refusal(f"test net #{i} ('{test.name}', TEST phase)", test, need, free, device,
                       _terms(test, test.model(backward=False), on_cpu), _test_advice(sp, i, test, fit))
    if host_free is not None:  # on a GPU the data layers' buffers are in RAM
        _check_host(train, tests, host_free)


def _train_advice(sp, train: NetCount, fit: int, peak: _Peak, batches: list[int], model) -> str:
    if fit < 1:
        return _nothing_fits(train, peak.need(1, batches), model.fixed_bytes)
    effective = train.batch * max(sp.iter_size, 1)
    b, k = batchsplit.split(effective, fit)
    same = "the same effective batch" if b * k == effective else "an effective batch"
    return (f"At most {fit:,} images fit in {SAFETY:.0%} of it: use batch_size {b} in layer '{train.data_layer}' "
            f"(TRAIN) with iter_size {k} in the solver, {same} of {b * k}.")


def _test_advice(sp, i: int, test: NetCount, fit: int) -> str:
    if fit < 1:
        return ("The TRAIN net leaves no room for it: lower the TRAIN batch_size (with a larger iter_size in the "
                "solver to keep the effective batch).")
    b, k = batchsplit.split(test.batch, fit)
    iters = sp.test_iter[i] * k if i < len(sp.test_iter) else k
    return (f"At most {fit:,} images fit next to the TRAIN net: use batch_size {b} in layer '{test.data_layer}' "
            f"(TEST) with test_iter {iters} in the solver, to test "
            f"{'the same' if b * k == test.batch else 'about as many'} images.")


def _check_host(train: NetCount, tests, host_free) -> None:
    need = train.batch * train.host_per_image + sum(t.host_per_image * t.batch for _, t in tests)
    if need <= host_free.bytes * SAFETY:
        return
    others = need - train.batch * train.host_per_image
    fit = largest_fit(others, train.host_per_image, host_free.bytes * SAFETY)
    advice = (f"Lower batch_size in layer '{train.data_layer}' to at most {fit} (with a larger iter_size), or "
              "prefetch in data_param." if fit >= 1 else "Lower the data layers' batch_size or prefetch.")
    raise MemoryFitError(f"the data layers' prefetch buffers need about {human(need)} of RAM "
                         f"({human(train.host_per_image)} per image of batch_size {train.batch}), and "
                         f"{human(host_free.bytes)} is free ({host_free.source}). {advice}{_SKIP}")


def _test_counts(params, root) -> list[tuple[int, NetCount]]:
    """(index, counts) of every test net that can be counted; the others are the build's to report."""
    counts = [(i, count(p, root)) for i, p in enumerate(params)]
    return [(i, c) for i, c in counts if c is not None]


def check_inference(net_param, device, *, command: str = "test", iterations: int = 0, root=None,
                    where: str = "") -> None:
    """Raise MemoryFitError when ``net_param`` (phase, level, stages in its ``state``) cannot run on
    ``device``: ``command`` "test"/"forward" (no gradients) or "time" (forward + backward)."""
    budgets = _budgets(device)
    if budgets is None:
        return
    c = count(net_param, root)
    if c is None:
        return
    free, host_free = budgets
    on_cpu = host_free is None
    model = c.model(0, 0 if on_cpu else GPU_RESERVE, backward=command == "time")
    per_image = model.per_image_bytes + (c.host_per_image if on_cpu else 0.0)
    budget = free.bytes * SAFETY
    need = model.fixed_bytes + c.batch * per_image
    if need <= budget:
        return
    fit = largest_fit(model.fixed_bytes, per_image, budget)
    if fit < 1:
        advice = _nothing_fits(c, model.fixed_bytes + per_image, model.fixed_bytes)
    elif c.data_type == "Input":
        advice = (f"At most {fit:,} images fit in {SAFETY:.0%} of it: make the first dimension of the Input shape "
                  f"of layer '{c.data_layer}' at most {fit}" + (" (and of the --input arrays)." if command == "forward"
                                                               else "."))
    elif command == "test" and iterations:
        b, k = batchsplit.split(c.batch, fit)
        advice = (f"At most {fit:,} images fit in {SAFETY:.0%} of it: use batch_size {b} in layer "
                  f"'{c.data_layer}' and --iterations {iterations * k}, to score "
                  f"{'the same' if b * k == c.batch else 'about as many'} images.")
    else:
        advice = (f"At most {fit:,} images fit in {SAFETY:.0%} of it: use batch_size {fit} or less in layer "
                  f"'{c.data_layer}'.")
    what = f"the {c.phase} net '{c.name}'" + (f" ({where})" if where else "")
    raise _refusal(what, c, need, free, device, _terms(c, model, on_cpu), advice)


def allocation_error(exc: BaseException, what: str, device, advice: str = "") -> MemoryFitError:
    """The message for an allocation that failed (``exc``: see :func:`memory.is_allocation_failure`)."""
    memory.release(exc)
    free = memory.free_memory(device)
    now = f"; {_free_text(free, device)} now" if free is not None else ""
    advice = advice or "Use a smaller batch_size or input size, or a machine with more memory."
    return MemoryFitError(f"{_where(device)} ran out of memory {what}{memory.refused_bytes(exc)}{now}. {advice}")


@contextlib.contextmanager
def guard(what: str, device, advice: str = ""):
    """Inside: an allocation that fails becomes :func:`allocation_error` (``what``: "while running ...")."""
    try:
        yield
    except Exception as exc:  # MemoryError and torch's RuntimeErrors; anything else goes on as it was
        if memory.is_allocation_failure(exc):
            raise allocation_error(exc, what, device, advice) from None
        raise
