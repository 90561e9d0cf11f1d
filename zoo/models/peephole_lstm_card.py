"""Cards of the models `zoo.models.peephole_lstm` registers, as plain data.

Read by `zoo list` and `zoo info` without building anything; written by `python -m zoo.core.cards
--write` and checked against the built models by tests/test_cards.py. Do not edit by hand.
"""

MODULE = 'zoo.models.peephole_lstm'

EXPORTS = ['peephole_lstm_classifier', 'peephole_lstm_regressor']

CARDS = {
    'peephole_lstm_classifier': {
        'name': 'peephole_lstm_classifier',
        'family': 'peephole_lstm',
        'task': 'sequence_classification',
        'description': 'Peephole LSTM sequence classifier (token ids or feature vectors in, classes out)',
        'paper': 'Gers, Schraudolph & Schmidhuber 2002, Learning Precise Timing with LSTM Recurrent Networks; Sak et al. 2014',
        'params': 2692226,
        'trainable_params': 2692226,
        'macs': 13145856,
        'macs_unit': 'multiply-adds per example, at input shapes (100,) (sequence length 100, as declared for counting)',
        'macs_input_shapes': [(100,)],
        'input_shape': (None,),
        'inputs': [(None, None)],
        'outputs': [(None, 2)],
        'defaults': {
            'input_shape': None,
            'vocabulary_size': 20000,
            'embedding_dim': 128,
            'mask_zero': True,
            'units': (128,),
            'bidirectional': False,
            'dropout': 0.0,
            'recurrent_dropout': 0.0,
            'classes': 2,
            'classifier_activation': 'softmax',
            'fast_path': 'auto',
            'weights': None,
            'name': 'peephole_lstm_classifier',
            'peepholes': None,
            'cell': 'peephole',
        },
        'weights': {},
        'search_space': [
            "cell: Choice ['peephole', 'lstm', 'gru', 'simple']",
            'num_layers: Choice [1, 2]',
            'units_1: Choice [128, 64, 256]',
            'dropout: Choice [0.0, 0.2, 0.5]',
            'bidirectional: Boolean [False, True]',
            'learning_rate: Choice [0.001, 0.003]',
            'units_2: Choice [128, 64]  [when num_layers in [2]]',
        ],
    },
    'peephole_lstm_regressor': {
        'name': 'peephole_lstm_regressor',
        'family': 'peephole_lstm',
        'task': 'sequence_regression',
        'description': 'Peephole LSTM forecaster (feature vectors in, one or several future values out)',
        'paper': 'Gers, Schraudolph & Schmidhuber 2002, Learning Precise Timing with LSTM Recurrent Networks; Sak et al. 2014',
        'params': 17153,
        'trainable_params': 17153,
        'macs': 1683264,
        'macs_unit': 'multiply-adds per example, at the default input shape',
        'macs_input_shapes': [(100, 1)],
        'input_shape': (100, 1),
        'inputs': [(None, 100, 1)],
        'outputs': [(None, 1)],
        'defaults': {
            'input_shape': (100, 1),
            'units': (64,),
            'bidirectional': False,
            'dropout': 0.0,
            'recurrent_dropout': 0.0,
            'horizon': 1,
            'targets': 1,
            'output_activation': None,
            'fast_path': 'auto',
            'weights': None,
            'name': 'peephole_lstm_regressor',
            'peepholes': None,
            'cell': 'peephole',
        },
        'weights': {},
        'search_space': [
            "cell: Choice ['peephole', 'lstm', 'gru', 'simple']",
            'num_layers: Choice [1, 2]',
            'units_1: Choice [128, 64, 256]',
            'dropout: Choice [0.0, 0.2, 0.5]',
            'learning_rate: Choice [0.001, 0.003]',
            'units_2: Choice [128, 64]  [when num_layers in [2]]',
        ],
    },
}
