"""Cards of the models `zoo.models.da_rnn` registers, as plain data.

Read by `zoo list` and `zoo info` without building anything; written by `python -m zoo.core.cards
--write` and checked against the built models by tests/test_cards.py. Do not edit by hand.
"""

MODULE = 'zoo.models.da_rnn'

EXPORTS = [
    'da_rnn',
    'da_rnn_128',
    'attention_model',
    'da_rnn_param_count',
    'RelativeToLast',
    'ResidualToLast',
]

CARDS = {
    'da_rnn': {
        'name': 'da_rnn',
        'family': 'da_rnn',
        'task': 'forecasting',
        'description': 'Dual-stage attention RNN forecaster (driving series + target history in, next value out), m = p = 64',
        'paper': 'Qin, Song, Chen, Cheng, Jiang, Cottrell 2017, A Dual-Stage Attention-Based Recurrent Neural Network for Time Series Prediction (IJCAI 2017, arXiv:1704.02971)',
        'params': 76401,
        'trainable_params': 76401,
        'macs': 694481,
        'macs_unit': 'multiply-adds per example, at the default input shape',
        'macs_input_shapes': [(10, 81), (9,)],
        'input_shape': {'drivers': (10, 81), 'history': (9,)},
        'inputs': [(None, 10, 81), (None, 9)],
        'outputs': [(None, 1)],
        'defaults': {
            'num_drivers': 81,
            'window': 10,
            'encoder_units': 64,
            'decoder_units': 64,
            'horizon': 1,
            'input_attention': True,
            'temporal_attention': True,
            'driver_mean': 0.0,
            'driver_std': 1.0,
            'target_mean': 0.0,
            'target_std': 1.0,
            'residual': False,
            'window_relative': False,
            'driver_change_std': None,
            'target_change_std': None,
            'weights': None,
            'name': 'da_rnn',
        },
        'weights': {},
        'search_space': [
            'units: Choice [64, 128, 32, 16, 256]',
            'window: Choice [10, 5, 15, 25, 3]',
            'learning_rate: Choice [0.001, 0.0003]',
        ],
    },
    'da_rnn_128': {
        'name': 'da_rnn_128',
        'family': 'da_rnn',
        'task': 'forecasting',
        'description': 'Dual-stage attention RNN forecaster, m = p = 128',
        'paper': 'Qin, Song, Chen, Cheng, Jiang, Cottrell 2017, A Dual-Stage Attention-Based Recurrent Neural Network for Time Series Prediction (IJCAI 2017, arXiv:1704.02971)',
        'params': 259185,
        'trainable_params': 259185,
        'macs': 2257489,
        'macs_unit': 'multiply-adds per example, at the default input shape',
        'macs_input_shapes': [(10, 81), (9,)],
        'input_shape': {'drivers': (10, 81), 'history': (9,)},
        'inputs': [(None, 10, 81), (None, 9)],
        'outputs': [(None, 1)],
        'defaults': {
            'num_drivers': 81,
            'window': 10,
            'encoder_units': 128,
            'decoder_units': 128,
            'name': 'da_rnn_128',
        },
        'weights': {},
        'search_space': [
            'units: Choice [64, 128, 32, 16, 256]',
            'window: Choice [10, 5, 15, 25, 3]',
            'learning_rate: Choice [0.001, 0.0003]',
        ],
    },
}
