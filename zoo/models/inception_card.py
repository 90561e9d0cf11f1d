"""Cards of the models `zoo.models.inception` registers, as plain data.

Read by `zoo list` and `zoo info` without building anything; written by `python -m zoo.core.cards
--write` and checked against the built models by tests/test_cards.py. Do not edit by hand.
"""

MODULE = 'zoo.models.inception'

EXPORTS = ['inception_v3', 'preprocess_input', 'decode_predictions']

CARDS = {
    'inception_v3': {
        'name': 'inception_v3',
        'family': 'inception',
        'task': 'image_classification',
        'description': 'Inception v3 (keras.applications layout and layer names)',
        'paper': 'Szegedy et al. 2016, Rethinking the Inception Architecture for Computer Vision, arXiv:1512.00567',
        'params': 23851784,
        'trainable_params': 23817352,
        'macs': 5713216096,
        'macs_unit': 'multiply-adds per example, at the default input shape',
        'macs_input_shapes': [(299, 299, 3)],
        'input_shape': (299, 299, 3),
        'inputs': [(None, 299, 299, 3)],
        'outputs': [(None, 1000)],
        'defaults': {
            'include_top': True,
            'weights': None,
            'input_tensor': None,
            'input_shape': None,
            'pooling': None,
            'classes': 1000,
            'classifier_activation': 'softmax',
            'name': 'inception_v3',
        },
        'weights': {
            'imagenet': {
                'no_top': 'md5:bcbd6486424b2319ff4ef7d526e38f63',
                'include_top': 'md5:9a0d58056eeedaa3f26cb7ebd46da564',
            },
        },
        'search_space': [
            "optimizer: Choice ['sgd', 'adamw']",
            "sgd_learning_rate: Choice [0.045, 0.1]  [when optimizer in ['sgd']]",
            "sgd_weight_decay: Fixed [4e-05]  [when optimizer in ['sgd']]",
            'label_smoothing: Choice [0.1, 0.0]',
            'clipnorm: Choice [2.0, 0.0]',
            "adamw_learning_rate: Choice [0.001, 0.0003]  [when optimizer in ['adamw']]",
            "adamw_weight_decay: Fixed [0.05]  [when optimizer in ['adamw']]",
        ],
        'min_input_size': 75,
        'preprocessing': 'tf',
    },
}
