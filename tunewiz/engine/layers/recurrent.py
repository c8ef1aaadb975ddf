"""Caffe's recurrent layers: LSTMUnit, RNN and LSTM (``recurrent_layer.cpp``, ``rnn_layer.cpp``,
``lstm_layer.cpp``).

Caffe builds RNN and LSTM as an unrolled internal net; here the same arithmetic runs as a loop over
the T time steps, and the layer's blobs are the unrolled net's owned params in its order and shapes,
so Caffe's snapshots load and save unchanged:

* RNN: ``W_xh (H x K)``, ``b_h (H)``, [``W_xh_static (H x K_static)``], ``W_hh (H x H)``,
  ``W_ho (H x H)``, ``b_o (H)``;
* LSTM: ``W_xc (4H x K)``, ``b_c (4H)``, [``W_xc_static (4H x K_static)``], ``W_hc (4H x H)``.

Bottoms: ``x`` (T x N x ..., flattened from axis 2 to K), ``cont`` (T x N), optionally
``x_static`` (N x ..., flattened from axis 1), then with ``expose_hidden`` the initial state
(RNN ``h0``, LSTM ``h0, c0``, each 1 x N x H).  Tops: the T x N x H output, then with
``expose_hidden`` the final state (``hT``, LSTM also ``cT``).

What Caffe's unrolled net does and these layers keep:

* ``cont_t`` scales the previous hidden state (``h_conted = cont_t * h_{t-1}``); 0 starts a new
  sequence.  ``cont`` gets no gradient (Caffe refuses to backpropagate to it).
* without ``expose_hidden`` the state is carried from one forward to the next (Caffe copies
  ``h_T``/``c_T`` into ``h_0``/``c_0`` before each forward; zeros at the first), with no gradient
  across batches;
* with ``expose_hidden`` Caffe shares only the data of ``h0``/``c0`` and ``hT``/``cT`` with the
  unrolled net: ``h0``/``c0`` get no gradient and the diffs of ``hT``/``cT`` are ignored.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from tunewiz.engine.layers.base import Layer, register
from tunewiz.engine.layers.kernels.lstm_unit import lstm_unit


@register("LSTMUnit")
class LSTMUnit(Layer):
    """One LSTM step (``kernels.lstm_unit`` has the formulas and Caffe's Backward): bottoms
    ``c_prev`` (1 x N x H), ``x`` (1 x N x 4H, gates i, f, o, g), ``cont`` (1 x N); tops ``c``, ``h``
    (1 x N x H).  ``cont`` gets no gradient."""

    def allow_force_backward(self, bottom_index: int) -> bool:
        return bottom_index != 2  # Caffe: cannot backpropagate to sequence indicators

    def setup(self, bottom_shapes):
        if len(bottom_shapes) != 3:
            raise self.fail(f"takes exactly 3 bottoms (c_prev, x, cont), the prototxt gives {len(bottom_shapes)}")
        c_prev, x, cont = bottom_shapes
        streams = c_prev[1] if len(c_prev) > 1 else None
        for name, shape, axes in (("c_prev", c_prev, 3), ("x", x, 3), ("cont", cont, 2)):
            if len(shape) != axes or shape[0] != 1 or shape[1] != streams:
                raise self.fail(f"bottom {name} has shape {list(shape)}: it must have {axes} axes, "
                                "1 time step and the same number of streams as c_prev (1 x N x H)")
        if x[2] != 4 * c_prev[2]:
            raise self.fail(f"bottom x has {x[2]} gate inputs per stream; 4 x the {c_prev[2]} of c_prev are needed")
        return [c_prev, c_prev]

    def forward(self, c_prev, x, cont):
        return lstm_unit(c_prev, x, cont)


class _Recurrent(Layer):
    """What RNN and LSTM share: Caffe's RecurrentLayer checks, blobs, bottoms and the state."""

    #: the recurrent state blobs (Caffe's RecurrentInputBlobNames, without the "_0")
    state_names: tuple[str, ...] = ()
    #: rows of each input weight: H (RNN) or 4H (LSTM gates)
    gate_factor = 1

    def allow_force_backward(self, bottom_index: int) -> bool:
        return bottom_index != 1  # Caffe: cannot backpropagate to sequence continuation indicators

    def setup(self, bottom_shapes):
        p = self.param.recurrent_param
        self.H = int(p.num_output)
        if self.H <= 0:
            raise self.fail("recurrent_param.num_output must be positive")
        self.expose = bool(p.expose_hidden)
        exposed = len(self.state_names) if self.expose else 0
        if not 2 + exposed <= len(bottom_shapes) <= 3 + exposed:
            raise self.fail(self._bottoms_wanted(exposed, len(bottom_shapes)))
        x, cont = bottom_shapes[0], bottom_shapes[1]
        if len(x) < 2:
            raise self.fail(f"bottom x has shape {list(x)}: it needs at least 2 axes (time steps, streams, ...)")
        if len(cont) != 2 or tuple(cont) != tuple(x[:2]):
            raise self.fail(f"bottom cont has shape {list(cont)}: it must be {list(x[:2])} (time steps x streams)")
        self.T, N = x[0], x[1]
        self.static = len(bottom_shapes) > 2 + exposed
        if self.static:
            xs = bottom_shapes[2]
            if len(xs) < 1 or xs[0] != N:
                raise self.fail(f"the static input has shape {list(xs)}: its first axis must be the {N} streams")
        state_shape = (1, N, self.H)
        for name, shape in zip(self.state_names, bottom_shapes[2 + self.static:]):
            if tuple(shape) != state_shape:
                raise self.fail(f"bottom {name}0 has shape {list(shape)}; expose_hidden needs {list(state_shape)}")
        self.K = math.prod(x[2:])
        self.K_static = math.prod(bottom_shapes[2][1:]) if self.static else 0
        self._make_blobs(p)
        self._carried: list[torch.Tensor] | None = None
        return [(self.T, N, self.H)] + [state_shape] * exposed

    def _bottoms_wanted(self, exposed: int, given: int) -> str:
        names = ["x", "cont", "[x_static]"] + [f"{n}0" for n in self.state_names][:exposed]
        return f"takes the bottoms {', '.join(names)}; the prototxt gives {given}"

    def _make_blobs(self, p) -> None:
        """The input blobs in Caffe's order: W_x (G x K), b (G), [W_x_static (G x K_static)] (G = gate rows)."""
        rows = self.gate_factor * self.H
        self.add_blob((rows, self.K), p.weight_filler)
        self.add_blob((rows,), p.bias_filler)
        if self.static:
            self.add_blob((rows, self.K_static), p.weight_filler)

    def _split_bottoms(self, bottoms):
        """(x, cont, x_static or None, the initial state list or None)."""
        x, cont, rest = bottoms[0], bottoms[1], list(bottoms[2:])
        static = rest.pop(0) if self.static else None
        return x, cont, static, (rest or None)

    def _initial_state(self, given, x: torch.Tensor) -> list[torch.Tensor]:
        """expose_hidden: the bottoms' data (no gradient reaches them in Caffe); otherwise the state the
        last forward left (zeros at the first, or when the number of streams changed)."""
        if given is not None:
            return [s.detach() for s in given]
        shape = (1, x.shape[1], self.H)
        carried = self._carried
        if carried is None or tuple(carried[0].shape) != shape:
            return [x.new_zeros(shape) for _ in self.state_names]
        return [s.to(x.device, x.dtype) for s in carried]

    def _input_terms(self, x, static):
        """``W_x * x_t + b`` for every t (T x N x G) and ``W_x_static * x_static`` (1 x N x G, or None)."""
        if x.shape[0] != self.T:
            raise self.fail(f"the input has {x.shape[0]} time steps, the layer was set up for {self.T}; "
                            "Caffe stops here too (input number of timesteps changed)")
        if math.prod(x.shape[2:]) != self.K:
            raise self.fail(f"the input has {math.prod(x.shape[2:])} values per step and stream, the weights "
                            f"were made for {self.K}")
        blobs = self.blobs._parameters
        x_terms = F.linear(x.reshape(self.T, x.shape[1], self.K), blobs["0"], blobs["1"])
        static_term = None
        if static is not None:
            static_term = F.linear(static.reshape(static.shape[0], self.K_static), blobs["2"]).unsqueeze(0)
        return x_terms, static_term

    def forward(self, *bottoms):
        x, cont, static, given = self._split_bottoms(bottoms)
        x_terms, static_term = self._input_terms(x, static)
        cont = cont.detach().to(x_terms.dtype)
        state = self._initial_state(given, x_terms)
        outputs = []
        for t in range(self.T):
            gate = self.recurrent_term(cont[t].view(1, -1, 1) * state[0]) + x_terms[t:t + 1]
            if static_term is not None:
                gate = gate + static_term
            state, out = self.step(gate, state, cont[t:t + 1])
            outputs.append(out)
        final = [s.detach() for s in state]
        if given is None:
            self._carried = final
        return (torch.cat(outputs, dim=0), *(final if self.expose else ()))

    # -- what RNN and LSTM define ---------------------------------------------------------
    def recurrent_term(self, h_conted: torch.Tensor) -> torch.Tensor:
        """``W_hh * h_conted`` (RNN) or ``W_hc * h_conted`` (LSTM)."""
        raise NotImplementedError

    def step(self, gate, state, cont):
        """(new state list, this step's output) from the summed gate input."""
        raise NotImplementedError


@register("RNN")
class RNN(_Recurrent):
    """Caffe's RNN (Elman): ``h_t = tanh(W_hh * (cont_t * h_{t-1}) + W_xh * x_t + b_h
    [+ W_xh_static * x_static])``, ``o_t = tanh(W_ho * h_t + b_o)``; top ``o`` (T x N x H), with
    ``expose_hidden`` also ``h_T``.  Blobs: W_xh, b_h, [W_xh_static], W_hh, W_ho, b_o."""

    state_names = ("h",)

    def _make_blobs(self, p) -> None:
        super()._make_blobs(p)
        self.add_blob((self.H, self.H), p.weight_filler)  # W_hh
        self.add_blob((self.H, self.H), p.weight_filler)  # W_ho
        self.add_blob((self.H,), p.bias_filler)  # b_o
        self.hh = len(self.blobs) - 3

    def recurrent_term(self, h_conted):
        return F.linear(h_conted, self.blobs[self.hh])

    def step(self, gate, state, cont):
        h = torch.tanh(gate)
        return [h], torch.tanh(F.linear(h, self.blobs[self.hh + 1], self.blobs[self.hh + 2]))


@register("LSTM")
class LSTM(_Recurrent):
    """Caffe's LSTM: ``gate_t = W_hc * (cont_t * h_{t-1}) + W_xc * x_t + b_c [+ W_xc_static * x_static]``
    (4H: i, f, o, g), then Caffe's LSTMUnit ``(c_t, h_t) = unit(c_{t-1}, gate_t, cont_t)``; top ``h``
    (T x N x H), with ``expose_hidden`` also ``h_T``, ``c_T``.  Blobs: W_xc, b_c, [W_xc_static], W_hc."""

    state_names = ("h", "c")
    gate_factor = 4

    def _make_blobs(self, p) -> None:
        super()._make_blobs(p)
        self.add_blob((4 * self.H, self.H), p.weight_filler)  # W_hc

    def recurrent_term(self, h_conted):
        return F.linear(h_conted, self.blobs[len(self.blobs) - 1])

    def step(self, gate, state, cont):
        c, h = lstm_unit(state[1], gate, cont)
        return [h, c], h
