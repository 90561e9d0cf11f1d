"""TensorFlow fast path of `zoo.layers.PeepholeLSTM` (imported only on the TensorFlow backend).

Two `tf.while_loop`s with a hand-written backward pass (`tf.custom_gradient`), the way cuDNN
splits an LSTM:

- forward: the loop holds the input product `x_t @ kernel + bias` (one fused op; it does not
  depend on the carried state, so TensorFlow's executor can run it ahead of the recurrence, and
  its result stays in the cache instead of a (T, B, 4u) array), `h @ recurrent_kernel` and the
  gate arithmetic; in training it keeps the gate activations (on four arrays: a concatenation per
  step cost more) and the cell states for the backward pass, in inference only the hidden states;
- backward: the loop holds the gate derivatives and `dz @ recurrent_kernel^T`; the factors that
  do not depend on the carried gradient are computed in the loop too (off the critical path, like
  the input product), and the peephole gradients are carried along unreduced; the kernel,
  recurrent-kernel and bias gradients are one product over all time steps after the loop (as
  cuDNN does), `[H_prev, X, 1]^T dZ`, which reads dZ once.

Autodiff through a `tf.while_loop` instead pushes every intermediate onto TensorLists and makes a
small weight-gradient product at every step, which is what makes a naive cell slow.

With `xla=True` both loops are compiled with XLA (`jit_compile=True`), which fuses the gate
arithmetic of one step into one kernel.

Equations (Gers, Schraudolph & Schmidhuber 2002, as written by Sak et al. 2014), gates i, f, c, o:

    i = sigmoid(x_t W_i + b_i + h_{t-1} R_i + w_i * c_{t-1})
    f = sigmoid(x_t W_f + b_f + h_{t-1} R_f + w_f * c_{t-1})
    c = f * c_{t-1} + i * tanh(x_t W_c + b_c + h_{t-1} R_c)
    o = sigmoid(x_t W_o + b_o + h_{t-1} R_o + w_o * c)
    h = o * tanh(c)

Masked steps keep the previous state.
"""

from __future__ import annotations

import tensorflow as tf

from zoo.layers._peephole_lstm_math import step_factors

__all__ = ["peephole_lstm_sequence"]


def _sigmoid_grad(y, dy):
    return tf.raw_ops.SigmoidGrad(y=y, dy=dy)


def _tanh_grad(y, dy):
    return tf.raw_ops.TanhGrad(y=y, dy=dy)

_CORES = {}


# Long by design: the forward and backward loops are closures over one set of flags so that the
# custom gradient and the loop it differentiates stay side by side (the hand-written gradient
# reads as the forward pass backwards).
def _loops(has_mask, has_rmask):
    def forward(x, h0, c0, W, b, R, wi, wf, wo, mask, rmask, keep_gates, sequences=True):
        T = tf.shape(x)[0]
        dtype = h0.dtype
        # The four gates' activations on four arrays: a concatenation per step costs more.
        ta_g = tuple(tf.TensorArray(dtype, size=T if keep_gates else 0) for _ in range(4))
        # In inference without `sequences`, only the last state is wanted.
        sequences = sequences or keep_gates
        ta_h = tf.TensorArray(dtype, size=T if sequences else 0)
        ta_c = tf.TensorArray(dtype, size=T if keep_gates else 0)

        def body(t, h, c, ta_g, ta_h, ta_c):
            hr = h * rmask if has_rmask else h
            z = tf.nn.bias_add(tf.matmul(x[t], W), b) + tf.matmul(hr, R)
            zi, zf, zc, zo = tf.split(z, 4, axis=1)
            i = tf.sigmoid(zi + wi * c)
            f = tf.sigmoid(zf + wf * c)
            g = tf.tanh(zc)
            c_new = f * c + i * g
            o = tf.sigmoid(zo + wo * c_new)
            h_new = o * tf.tanh(c_new)
            if has_mask:
                m = mask[t]
                h_new = h + m * (h_new - h)
                c_new = c + m * (c_new - c)
            if keep_gates:
                ta_g = tuple(ta.write(t, a) for ta, a in zip(ta_g, (i, f, g, o)))
                ta_c = ta_c.write(t, c_new)
            if sequences:
                ta_h = ta_h.write(t, h_new)
            return t + 1, h_new, c_new, ta_g, ta_h, ta_c

        out = tf.while_loop(
            lambda t, *_: t < T,
            body,
            (tf.constant(0), h0, c0, ta_g, ta_h, ta_c),
            maximum_iterations=T,
        )
        if keep_gates:
            return tuple(ta.stack() for ta in out[3]), out[4].stack(), out[5].stack()
        return (out[4].stack() if sequences else out[1][None]), out[2]

    def backward(G, C, c0, dH, dc_last, R, wi, wf, wo, mask, rmask):
        T = tf.shape(C)[0]
        # Transposed once here: `matmul(dz, R, transpose_b=True)` in the loop re-packs R at every
        # step (measured 2.5x slower on CPU).
        R_t = tf.transpose(R)
        ta_dz = tf.TensorArray(C.dtype, size=T)
        C_prev = tf.concat([c0[None], C[:-1]], axis=0)

        def body(k, dh, dc, dwi, dwf, dwo, ta_dz):
            t = T - 1 - k
            c_t = C[t]
            c_prev = C_prev[t]
            # Independent of the carried gradients: runs ahead of the recurrence.
            a_o, a_c, b_i, b_f, b_c, b_p = step_factors(
                *(a[t] for a in G), c_t, c_prev, wi, wf, wo,
                sigmoid_grad=_sigmoid_grad,
                tanh_grad=_tanh_grad)
            dh = dh + dH[t]
            dc_t = dc
            if has_mask:
                m = mask[t]
                dc = m * (dh * a_c + dc_t)
                dzo = m * (dh * a_o)
            else:
                dc = dh * a_c + dc_t
                dzo = dh * a_o
            dzi, dzf = dc * b_i, dc * b_f
            dz = tf.concat([dzi, dzf, dc * b_c, dzo], axis=1)
            dh_prev = tf.matmul(dz, R_t)
            if has_rmask:
                dh_prev = dh_prev * rmask
            dc_prev = dc * b_p
            if has_mask:
                dh_prev = dh_prev + (1.0 - m) * dh
                dc_prev = dc_prev + (1.0 - m) * dc_t
            # Peephole gradients, summed over the batch after the loop; where a step is masked
            # dz is zero.
            dwi = dwi + dzi * c_prev
            dwf = dwf + dzf * c_prev
            dwo = dwo + dzo * c_t
            return k + 1, dh_prev, dc_prev, dwi, dwf, dwo, ta_dz.write(t, dz)

        zeros = tf.zeros_like(c0)
        out = tf.while_loop(
            lambda k, *_: k < T,
            body,
            (tf.constant(0), zeros, dc_last, zeros, zeros, zeros, ta_dz),
            maximum_iterations=T,
        )
        dwi, dwf, dwo = (tf.reduce_sum(a, axis=0) for a in out[3:6])
        return out[6].stack(), out[1], out[2], dwi, dwf, dwo

    return forward, backward


def _core(has_mask, has_rmask, keep_gates, xla, sequences):
    key = (has_mask, has_rmask, keep_gates, xla, sequences)
    if key in _CORES:
        return _CORES[key]
    forward, backward = _loops(has_mask, has_rmask)
    # Functions, so that eager calls run graphs too; XLA-compiled with `xla`.
    jit = True if xla else None
    forward_train = tf.function(lambda *a: forward(*a, keep_gates=True), jit_compile=jit,
                                autograph=False)
    forward_infer = tf.function(lambda *a: forward(*a, keep_gates=False, sequences=sequences),
                                jit_compile=jit, autograph=False)
    backward = tf.function(backward, jit_compile=jit, autograph=False)

    @tf.custom_gradient
    def core(x, h0, c0, W, b, R, wi, wf, wo, mask, rmask):
        args = [tf.stop_gradient(a) for a in (x, h0, c0, W, b, R, wi, wf, wo, mask, rmask)]
        if keep_gates:
            G, H, C = forward_train(*args)
            c_last = C[-1]
        else:
            # Inference: neither the gate activations nor the cell states kept, and without
            # `sequences` only the last hidden state (H is then (1, B, u)). A gradient asked for
            # nonetheless (a tape around `training=False`) runs the forward loop again.
            H, c_last = forward_infer(*args)

        def grad(dH, dc_last):
            x_, h0_, c0_, W_, b_, R_, wi_, wf_, wo_, mask_, rmask_ = args
            G_, H_, C_ = (G, H, C) if keep_gates else forward_train(*args)
            dH = tf.zeros_like(H) if dH is None else dH
            if not keep_gates and not sequences:
                dH = tf.concat([tf.zeros_like(H_[:-1]), dH], axis=0)
            dc_last = tf.zeros_like(c_last) if dc_last is None else dc_last
            dZ, dh0, dc0, dwi, dwf, dwo = backward(
                G_, C_, c0_, dH, dc_last, R_, wi_, wf_, wo_, mask_, rmask_
            )
            units = tf.shape(h0_)[1]
            features = tf.shape(x_)[2]
            H_prev = tf.concat([h0_[None], H_[:-1]], axis=0)
            if has_rmask:
                H_prev = H_prev * rmask_
            dZ2 = tf.reshape(dZ, [-1, 4 * units])
            # The kernels' and the bias' gradients in one product, [H_prev, X, 1]^T dZ: dZ is
            # read once (a separate `reduce_sum` for the bias took 20 ms at B64 T100 u256).
            inputs = tf.concat([tf.reshape(H_prev, [-1, units]), tf.reshape(x_, [-1, features]),
                                tf.ones_like(dZ2[:, :1])], axis=1)
            dRWb = tf.matmul(inputs, dZ2, transpose_a=True)
            dR, dW, db = dRWb[:units], dRWb[units:-1], dRWb[-1]
            dx = tf.reshape(tf.matmul(dZ2, W_, transpose_b=True), tf.shape(x_))
            return (dx, dh0, dc0, dW, db, dR, dwi, dwf, dwo, tf.zeros_like(mask_),
                    tf.zeros_like(rmask_))

        return (H, c_last), grad

    _CORES[key] = core
    return core


def peephole_lstm_sequence(x, h0, c0, kernel, bias, recurrent_kernel, wi, wf, wo, mask=None,
                           rmask=None, training=True, xla=False, sequences=True):
    """Run the peephole LSTM over time-major inputs.

    Args:
        x: `(T, B, m)` inputs.
        h0, c0: `(B, u)` initial states.
        kernel: `(m, 4u)`; bias: `(4u,)` (zeros without a bias).
        recurrent_kernel: `(u, 4u)`.
        wi, wf, wo: `(u,)` peephole weights.
        mask: optional `(T, B, 1)` float mask (1 = step used, 0 = state kept).
        rmask: optional `(B, u)` recurrent dropout mask applied to `h_{t-1}` before the product.
        training: keep the gate activations for the backward pass (otherwise a gradient, if one
            is asked for, runs the forward loop again).
        xla: compile both loops with XLA.
        sequences: return the hidden states of every step; otherwise, in inference, H is the
            last one alone, `(1, B, u)`.

    Returns:
        `(H, c_last)`: the hidden states after every step `(T, B, u)`, the last cell state
        `(B, u)`.
    """
    has_mask = mask is not None
    has_rmask = rmask is not None
    dtype = x.dtype
    if mask is None:
        mask = tf.zeros([0], dtype)
    if rmask is None:
        rmask = tf.zeros([0], dtype)
    core = _core(has_mask, has_rmask, bool(training), bool(xla), bool(sequences or training))
    return core(x, h0, c0, kernel, bias, recurrent_kernel, wi, wf, wo, mask, rmask)
