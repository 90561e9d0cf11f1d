"""Cards of the models `zoo.models.gcn` registers, as plain data.

Read by `zoo list` and `zoo info` without building anything; written by `python -m zoo.core.cards
--write` and checked against the built models by tests/test_cards.py. Do not edit by hand.
"""

MODULE = 'zoo.models.gcn'

EXPORTS = ['gcn']

CARDS = {
    'gcn': {
        'name': 'gcn',
        'family': 'gcn',
        'task': 'node_classification',
        'description': 'Two-layer graph convolutional network for semi-supervised node classification',
        'paper': 'Kipf & Welling 2017, Semi-Supervised Classification with Graph Convolutional Networks, arXiv:1609.02907',
        'params': 576,
        'trainable_params': 576,
        'macs': 40392,
        'macs_unit': 'multiply-adds per example, at input shapes (34, 34), (34, 34) (sequence length 34, as declared for counting)',
        'macs_input_shapes': [(34, 34), (34, 34)],
        'input_shape': {'node_features': (None, 34), 'adjacency': (None, None)},
        'inputs': [(None, None, 34), (None, None, None)],
        'outputs': [(None, None, 2)],
        'defaults': {
            'num_features': 34,
            'classes': 2,
            'num_nodes': None,
            'hidden_units': 16,
            'num_layers': 2,
            'dropout': 0.5,
            'l2': 0.0005,
            'use_bias': False,
            'classifier_activation': 'softmax',
            'name': 'gcn',
        },
        'weights': {},
        'search_space': [
            "optimizer: Fixed ['adam']",
            "adam_learning_rate: Choice [0.01, 0.005, 0.02]  [when optimizer in ['adam']]",
            'hidden_units: Choice [16, 32, 64]',
            'dropout: Choice [0.5, 0.3, 0.0]',
            'l2: Choice [0.0005, 0.001, 0.0]',
            'batch_size: Fixed [1]',
            'epochs: Fixed [200]',
        ],
    },
}
