"""Backend-neutral pieces of the fused peephole LSTM loops (`keras.ops` only), shared by the
TensorFlow (`_peephole_lstm_tf.py`) and JAX (`_peephole_lstm_jax.py`) fast paths."""

from __future__ import annotations

from keras import ops


def _sigmoid_grad(y, dy):
    return dy * y * (1.0 - y)


def _tanh_grad(y, dy):
    return dy * (1.0 - y * y)


def step_factors(i, f, g, o, C, C_prev, wi, wf, wo, sigmoid_grad=_sigmoid_grad,
                 tanh_grad=_tanh_grad):
    """The factors of the backward pass that do not depend on the carried gradients, for one
    step (gate activations `i, f, g, o` and states `C`, `C_prev` (B, u)); both fused loops compute
    them in the backward loop, beside the recurrence (computed for every step at once before the
    loop, they cost a pass over several (T, B, u) arrays: 33 ms of 103 on TensorFlow at B64 T100
    u256).

    With the gate activations and the states of the forward loop, one backward step is

        dh_t = dh_carry + dH[t];  dc_t = dc_carry + dC[t]
        dc = m * dc_t + dh_t * a_c            a_c = m (o (1 - tanh^2 c) + w_o o (1 - o) tanh c)
        dz = [dc * b_i, dc * b_f, dc * b_c, dh_t * a_o]     a_o = m o (1 - o) tanh c
        dc_prev = dc * b_p + (1 - m) dc_t;   dh_prev = dz @ R^T + (1 - m) dh_t

    (c is the kept state where m = 0; the caller multiplies a_c and a_o by the mask m.)

    `sigmoid_grad(y, dy)` = dy y (1 - y) and `tanh_grad(y, dy)` = dy (1 - y^2) may be a backend's
    fused ops (TensorFlow's `SigmoidGrad`, `TanhGrad`: one op each where the formulas take three,
    which counts on TensorFlow's executor, one dispatch per op and step).

    Returns:
        `(a_o, a_c, b_i, b_f, b_c, b_p)`.
    """
    tc = ops.tanh(C)
    a_o = sigmoid_grad(o, tc)
    a_c = tanh_grad(tc, o) + wo * a_o
    b_i = sigmoid_grad(i, g)
    b_f = sigmoid_grad(f, C_prev)
    b_c = tanh_grad(g, i)
    b_p = f + b_i * wi + b_f * wf
    return a_o, a_c, b_i, b_f, b_c, b_p

