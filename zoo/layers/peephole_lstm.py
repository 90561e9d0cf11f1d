"""Peephole LSTM (Gers, Schraudolph & Schmidhuber 2002): `PeepholeLSTMCell` and a fast
`PeepholeLSTM` layer.

The cell follows the equations as written by Sak et al. (2014), with diagonal peephole weights:
the input and forget gates see the previous cell state c(t-1), the output gate sees the new one
c(t):

    i_t = sigmoid(W_i x_t + R_i h_{t-1} + p_i * c_{t-1} + b_i)
    f_t = sigmoid(W_f x_t + R_f h_{t-1} + p_f * c_{t-1} + b_f)
    c_t = f_t * c_{t-1} + i_t * tanh(W_c x_t + R_c h_{t-1} + b_c)
    o_t = sigmoid(W_o x_t + R_o h_{t-1} + p_o * c_t + b_o)
    h_t = o_t * tanh(c_t)

The weights have the layout of tf.keras' `experimental.PeepholeLSTMCell` (TensorFlow <= 2.15):
`kernel` (input_dim, 4u) and `recurrent_kernel` (u, 4u) with the gates in the order i, f, c, o,
`bias` (4u,), and the (u,) vectors `input_gate_peephole_weights`, `forget_gate_peephole_weights`,
`output_gate_peephole_weights`; a model trained with that cell ports over weight for weight.
Parameters: 4 (m u + u u + u) + 3 u for m input features and u units.

Speed: the `PeepholeLSTM` layer computes the input projections of all time steps in one matrix
product, and keeps only the recurrent product and the gate arithmetic in the loop. On the
TensorFlow backend it runs fused loops with a hand-written backward pass (see
`zoo/layers/_peephole_lstm_tf.py`), the way `keras.layers.LSTM` picks cuDNN; on JAX the same
loops as `lax.scan` with a `jax.custom_vjp` (`_peephole_lstm_jax.py`); on torch (or with
`fast_path="none"`) the generic `keras.ops.scan` loop.

Reference:
    - Gers, Schraudolph & Schmidhuber, "Learning Precise Timing with LSTM Recurrent Networks",
      JMLR 3, 2002.
    - Sak, Senior & Beaufays, "Long Short-Term Memory Recurrent Neural Network Architectures for
      Large Scale Acoustic Modeling", Interspeech 2014.
"""

from __future__ import annotations

import keras
from keras import ops

__all__ = ["PeepholeLSTMCell", "PeepholeLSTM"]

_FAST_PATHS = ("auto", "graph", "xla", "none")


def _is_default_activations(cell):
    return (
        cell.activation is keras.activations.tanh
        and cell.recurrent_activation is keras.activations.sigmoid
    )


@keras.saving.register_keras_serializable(package="zoo")
class PeepholeLSTMCell(keras.layers.LSTMCell):
    """Cell of the peephole LSTM (one time step), a drop-in for `keras.layers.LSTMCell`.

    Takes the arguments of `keras.layers.LSTMCell`. The peephole weights are initialized with
    `kernel_initializer`, as in tf.keras' `experimental.PeepholeLSTMCell`. `dropout` drops input
    units and `recurrent_dropout` drops units of h(t-1) before the recurrent product, one mask
    per sequence shared by the four gates (Gal & Ghahramani 2016).

    Args:
        units: positive integer, size of the state.
        **kwargs: the other arguments of `keras.layers.LSTMCell` (`activation`,
            `recurrent_activation`, `use_bias`, initializers, regularizers, constraints,
            `unit_forget_bias`, `dropout`, `recurrent_dropout`, `seed`).

    Reference:
        Gers, Schraudolph & Schmidhuber 2002, Learning Precise Timing with LSTM Recurrent
        Networks; equations as in Sak, Senior & Beaufays 2014.

    Example:
        >>> import numpy as np, keras
        >>> from zoo.layers import PeepholeLSTMCell
        >>> rnn = keras.layers.RNN(PeepholeLSTMCell(4), return_sequences=True)
        >>> tuple(rnn(np.zeros((2, 5, 3), "float32")).shape)
        (2, 5, 4)
    """

    def __init__(self, units, **kwargs):
        if not isinstance(units, int) or isinstance(units, bool) or units < 1:
            raise ValueError(
                f"`units` must be a positive integer. Received: units={units!r}"
            )
        for arg in ("dropout", "recurrent_dropout"):
            rate = kwargs.get(arg, 0.0)
            if not isinstance(rate, (int, float)) or isinstance(rate, bool) or not 0 <= rate < 1:
                raise ValueError(
                    f"`{arg}` must be a float in [0, 1). Received: {arg}={rate!r}"
                )
        kwargs.pop("implementation", None)
        super().__init__(units, **kwargs)
        # One dropout mask per sequence, shared by the four gates.
        self.implementation = 2
        if hasattr(self, "dropout_mask_count"):
            del self.dropout_mask_count

    def build(self, input_shape):
        super().build(input_shape)
        self.input_gate_peephole_weights = self.add_weight(
            shape=(self.units,),
            name="input_gate_peephole_weights",
            initializer=self.kernel_initializer,
        )
        self.forget_gate_peephole_weights = self.add_weight(
            shape=(self.units,),
            name="forget_gate_peephole_weights",
            initializer=self.kernel_initializer,
        )
        self.output_gate_peephole_weights = self.add_weight(
            shape=(self.units,),
            name="output_gate_peephole_weights",
            initializer=self.kernel_initializer,
        )

    def gates(self, z, c_tm1):
        """The peephole gate arithmetic: pre-activations `z` (B, 4u) and c(t-1) to (h, c)."""
        u = self.units
        zi, zf, zc, zo = z[:, :u], z[:, u : 2 * u], z[:, 2 * u : 3 * u], z[:, 3 * u :]
        i = self.recurrent_activation(zi + self.input_gate_peephole_weights * c_tm1)
        f = self.recurrent_activation(zf + self.forget_gate_peephole_weights * c_tm1)
        c = f * c_tm1 + i * self.activation(zc)
        o = self.recurrent_activation(zo + self.output_gate_peephole_weights * c)
        h = o * self.activation(c)
        return h, c

    def call(self, inputs, states, training=False):
        h_tm1, c_tm1 = states[0], states[1]
        if training and 0.0 < self.dropout < 1.0:
            inputs = inputs * self.get_dropout_mask(inputs)
        if training and 0.0 < self.recurrent_dropout < 1.0:
            h_tm1 = h_tm1 * self.get_recurrent_dropout_mask(h_tm1)
        z = ops.matmul(inputs, self.kernel) + ops.matmul(h_tm1, self.recurrent_kernel)
        if self.use_bias:
            z = z + self.bias
        h, c = self.gates(z, c_tm1)
        return h, [h, c]


@keras.saving.register_keras_serializable(package="zoo")
class PeepholeLSTM(keras.layers.RNN):
    """Peephole LSTM layer (Gers, Schraudolph & Schmidhuber 2002), fast on every backend.

    A `keras.layers.RNN` over `PeepholeLSTMCell` with the arguments of `keras.layers.LSTM`:
    `return_sequences`, `return_state`, `go_backwards`, `stateful`, `unroll`, masking,
    `dropout`/`recurrent_dropout`, `unit_forget_bias`; usable inside `keras.layers.Bidirectional`
    and stacked. The input projections of all time steps are one matrix product; the loop holds
    only the recurrent product and the gate arithmetic.

    Args:
        units: positive integer, size of the state.
        activation, recurrent_activation, use_bias, kernel_initializer, recurrent_initializer,
        bias_initializer, unit_forget_bias, kernel_regularizer, recurrent_regularizer,
        bias_regularizer, activity_regularizer, kernel_constraint, recurrent_constraint,
        bias_constraint, dropout, recurrent_dropout, seed, return_sequences, return_state,
        go_backwards, stateful, unroll: as in `keras.layers.LSTM`.
        fast_path: which loop runs on the TensorFlow backend. `"auto"` (default) and `"graph"`:
            fused loops with a hand-written backward pass, as plain graph ops (measured fastest
            on CPU, see `benchmarks/peephole_lstm.py`); `"xla"`: the same loops compiled with XLA
            (least CPU work, but one compilation per input shape and mostly one core);
            `"none"`: the generic `keras.ops.scan` loop. The fused loops need the default
            activations (tanh, sigmoid) and `unroll=False`; otherwise the generic loop runs.
            On JAX every value but `"none"` runs the same fused loops (`lax.scan` with a
            hand-written `jax.custom_vjp` backward pass); torch runs the generic loop.

    Call arguments:
        sequences: `(batch, timesteps, features)`.
        initial_state: optional list `[h0, c0]`.
        mask: optional boolean `(batch, timesteps)`; masked steps keep the previous state.
        training: whether dropout is applied.

    Reference:
        Gers, Schraudolph & Schmidhuber 2002, Learning Precise Timing with LSTM Recurrent
        Networks; equations as in Sak, Senior & Beaufays 2014.

    Example:
        >>> import numpy as np
        >>> from zoo.layers import PeepholeLSTM
        >>> layer = PeepholeLSTM(8, return_sequences=True, return_state=True)
        >>> y, h, c = layer(np.zeros((2, 5, 3), "float32"))
        >>> tuple(y.shape), tuple(h.shape), tuple(c.shape)
        ((2, 5, 8), (2, 8), (2, 8))
    """

    # Long by its signature: keras.layers.LSTM's arguments, one per line, handed to the cell.
    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        unit_forget_bias=True,
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        seed=None,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        fast_path="auto",
        **kwargs,
    ):
        if fast_path not in _FAST_PATHS:
            raise ValueError(
                f"`fast_path` must be one of {_FAST_PATHS}. Received: fast_path={fast_path!r}"
            )
        cell = PeepholeLSTMCell(
            units,
            activation=activation,
            recurrent_activation=recurrent_activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            unit_forget_bias=unit_forget_bias,
            recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint,
            dropout=dropout,
            recurrent_dropout=recurrent_dropout,
            dtype=kwargs.get("dtype", None),
            trainable=kwargs.get("trainable", True),
            name="peephole_lstm_cell",
            seed=seed,
        )
        super().__init__(
            cell,
            return_sequences=return_sequences,
            return_state=return_state,
            go_backwards=go_backwards,
            stateful=stateful,
            unroll=unroll,
            activity_regularizer=activity_regularizer,
            **kwargs,
        )
        self.input_spec = keras.layers.InputSpec(ndim=3)
        self.fast_path = fast_path

    # -- the loop -------------------------------------------------------------------------------

    def _fused_path(self):
        """`"graph"`, `"xla"`, `"jax"` or None: the fused loops to use for this call."""
        backend = keras.backend.backend()
        if backend not in ("tensorflow", "jax") or self.fast_path == "none":
            return None
        if self.unroll or not _is_default_activations(self.cell):
            return None
        if backend == "jax":
            return "jax"
        return "xla" if self.fast_path == "xla" else "graph"

    # Long by design: the one place that picks the fast path (TF graph or XLA loop, JAX fused loop)
    # and prepares its inputs (dropout masks, peephole weights) in the same order for each.
    def inner_loop(self, sequences, initial_state, mask, training=False):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        cell = self.cell
        h0, c0 = initial_state[0], initial_state[1]
        x = sequences
        if training and 0.0 < cell.dropout < 1.0:
            x = x * ops.expand_dims(cell.get_dropout_mask(x[:, 0, :]), 1)
        rmask = None
        if training and 0.0 < cell.recurrent_dropout < 1.0:
            rmask = cell.get_recurrent_dropout_mask(h0)

        # Time-major. The fused loops make the input products themselves (in the loop, off the
        # critical path, in cache); the generic one takes the input projections of every step,
        # made here in one matrix product.
        x = ops.transpose(x, (1, 0, 2))
        fmask = None
        if mask is not None:
            fmask = ops.expand_dims(ops.cast(ops.transpose(mask, (1, 0)), x.dtype), -1)
        if self.go_backwards:
            x = ops.flip(x, axis=0)
            if fmask is not None:
                fmask = ops.flip(fmask, axis=0)

        def cast(w):
            return ops.cast(ops.convert_to_tensor(w), x.dtype)

        path = self._fused_path()
        bias = None
        if path is not None:
            bias = (cast(cell.bias) if cell.use_bias
                    else ops.zeros((4 * cell.units,), dtype=x.dtype))
        if path == "jax":
            from zoo.layers import _peephole_lstm_jax as fused

            run = fused.peephole_lstm_sequence if training else fused.peephole_lstm_inference
            H, C = run(x, h0, c0, cast(cell.kernel), bias,
                       *[cast(w) for w in self._recurrent_weights()], mask=fmask, rmask=rmask)
            h_last, c_last = H[-1], C[-1]
        elif path in ("graph", "xla"):
            from zoo.layers._peephole_lstm_tf import peephole_lstm_sequence

            H, c_last = peephole_lstm_sequence(
                x, h0, c0, cast(cell.kernel), bias,
                *[cast(w) for w in self._recurrent_weights()],
                mask=fmask, rmask=rmask, training=bool(training), xla=path == "xla",
                sequences=self.return_sequences or fmask is not None)
            h_last = H[-1]
        else:
            steps, batch = ops.shape(x)[0], ops.shape(x)[1]
            xz = ops.matmul(ops.reshape(x, (-1, ops.shape(x)[2])), cell.kernel)
            if cell.use_bias:
                xz = xz + cell.bias
            xz = ops.reshape(xz, (steps, batch, 4 * cell.units))
            H, h_last, c_last = self._scan(xz, h0, c0, fmask, rmask)

        outputs = H
        if fmask is not None:
            # Keras' RNN semantics: a masked step repeats the previous output (zeros before the
            # first unmasked step), or gives zeros with `zero_output_for_mask`.
            if self.zero_output_for_mask:
                weight = fmask
            else:
                weight = ops.cast(ops.cumsum(fmask, axis=0) > 0, H.dtype)
            outputs = H * weight
        last_output = outputs[-1]
        if self.return_sequences:
            outputs = ops.transpose(outputs, (1, 0, 2))
        else:
            outputs = last_output
        return last_output, outputs, [h_last, c_last]

    def _recurrent_weights(self):
        cell = self.cell
        return (cell.recurrent_kernel, cell.input_gate_peephole_weights,
                cell.forget_gate_peephole_weights, cell.output_gate_peephole_weights)

    def _scan(self, xz, h0, c0, fmask, rmask):
        """The generic loop (every backend): `keras.ops.scan` over projected inputs."""
        cell = self.cell
        R = cell.recurrent_kernel

        def step(carry, inputs):
            h, c = carry
            if fmask is None:
                z_x = inputs
            else:
                z_x, m = inputs
            hr = h if rmask is None else h * rmask
            h_new, c_new = cell.gates(z_x + ops.matmul(hr, R), c)
            if fmask is not None:
                h_new = h + m * (h_new - h)
                c_new = c + m * (c_new - c)
            # (keras' TensorFlow scan wants the outputs shaped like the carry)
            return (h_new, c_new), (h_new, c_new)

        xs = xz if fmask is None else (xz, fmask)
        unroll = True if self.unroll else 1
        (h_last, c_last), (H, _) = ops.scan(step, (h0, c0), xs, unroll=unroll)
        return H, h_last, c_last

    def call(self, sequences, initial_state=None, mask=None, training=False):
        return super().call(sequences, mask=mask, training=training, initial_state=initial_state)

    # -- accounting -----------------------------------------------------------------------------

    def compute_macs(self, input_shapes, output_shapes):
        """Multiply-adds of one forward pass (used by `zoo.core.macs`).

        Per step: the input and recurrent products of the four gates, 4 u (m + u), plus the three
        diagonal peephole products, 3 u.
        """
        seq = input_shapes[0]
        steps, features = int(seq[1]), int(seq[-1])
        u = self.units
        return steps * (4 * u * (features + u) + 3 * u)

    # -- properties and config (as keras.layers.LSTM) -------------------------------------------

    @property
    def units(self):
        return self.cell.units

    @property
    def activation(self):
        return self.cell.activation

    @property
    def recurrent_activation(self):
        return self.cell.recurrent_activation

    @property
    def use_bias(self):
        return self.cell.use_bias

    @property
    def unit_forget_bias(self):
        return self.cell.unit_forget_bias

    @property
    def dropout(self):
        return self.cell.dropout

    @property
    def recurrent_dropout(self):
        return self.cell.recurrent_dropout

    def get_config(self):
        c = self.cell
        S = keras.saving.serialize_keras_object
        config = {
            "units": c.units,
            "activation": keras.activations.serialize(c.activation),
            "recurrent_activation": keras.activations.serialize(c.recurrent_activation),
            "use_bias": c.use_bias,
            "kernel_initializer": keras.initializers.serialize(c.kernel_initializer),
            "recurrent_initializer": keras.initializers.serialize(c.recurrent_initializer),
            "bias_initializer": keras.initializers.serialize(c.bias_initializer),
            "unit_forget_bias": c.unit_forget_bias,
            "kernel_regularizer": S(c.kernel_regularizer),
            "recurrent_regularizer": S(c.recurrent_regularizer),
            "bias_regularizer": S(c.bias_regularizer),
            "activity_regularizer": S(self.activity_regularizer),
            "kernel_constraint": S(c.kernel_constraint),
            "recurrent_constraint": S(c.recurrent_constraint),
            "bias_constraint": S(c.bias_constraint),
            "dropout": c.dropout,
            "recurrent_dropout": c.recurrent_dropout,
            "seed": c.seed,
            "fast_path": self.fast_path,
        }
        base = super().get_config()
        del base["cell"]
        return {**base, **config}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

