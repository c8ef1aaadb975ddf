"""Caffe's LSTMUnit step (``lstm_unit_layer.cpp``) with its own Backward, shared by LSTMUnit and LSTM.

Forward, per stream n and hidden unit d, with ``x = [i', f', o', g']`` (Caffe's gate order)::

    i = sigmoid(i')    f = 0 if cont == 0 else cont * sigmoid(f')
    o = sigmoid(o')    g = tanh(g')
    c = f * c_prev + i * g        h = o * tanh(c)

Backward, as Caffe writes it (``cont`` gets none)::

    c_term = dc + dh * o * (1 - tanh(c)^2)
    dc_prev = c_term * f          di' = c_term * g * i * (1 - i)
    df' = c_term * c_prev * f * (1 - f)
    do' = dh * tanh(c) * o * (1 - o)          dg' = c_term * i * (1 - g^2)

``df'`` uses ``f * (1 - f)`` with ``f`` already scaled by ``cont``: for a ``cont`` other than 0 or 1
that is not the derivative of the forward, so autograd of the forward would differ from Caffe and
the step is a ``torch.autograd.Function``.
"""
from __future__ import annotations

import torch


def gates(x: torch.Tensor, cont: torch.Tensor):
    """(i, f, o, g) from the 4H gate inputs ``x`` (..., 4H) and ``cont`` (...), ``f`` scaled by ``cont``."""
    xi, xf, xo, xg = x.chunk(4, dim=-1)
    flag = cont.unsqueeze(-1).to(x.dtype)
    f = torch.where(flag == 0, torch.zeros_like(xf), flag * torch.sigmoid(xf))
    return torch.sigmoid(xi), f, torch.sigmoid(xo), torch.tanh(xg)


class LSTMUnitStep(torch.autograd.Function):
    """``(c, h) = step(c_prev, x, cont)`` with Caffe's Backward (see the module docstring)."""

    @staticmethod
    def forward(ctx, c_prev, x, cont):
        i, f, o, g = gates(x, cont)
        c = f * c_prev + i * g
        tanh_c = torch.tanh(c)
        ctx.save_for_backward(c_prev, i, f, o, g, tanh_c)
        return c, o * tanh_c

    @staticmethod
    def backward(ctx, dc, dh):
        c_prev, i, f, o, g, tanh_c = ctx.saved_tensors
        c_term = dc + dh * o * (1 - tanh_c * tanh_c)
        dx = torch.cat([c_term * g * i * (1 - i), c_term * c_prev * f * (1 - f),
                        dh * tanh_c * o * (1 - o), c_term * i * (1 - g * g)], dim=-1)
        return c_term * f, dx, None


def lstm_unit(c_prev: torch.Tensor, x: torch.Tensor, cont: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One LSTM step: ``c_prev`` (..., H), ``x`` (..., 4H), ``cont`` (...) -> ``(c, h)``, each (..., H)."""
    return LSTMUnitStep.apply(c_prev, x, cont.detach())
