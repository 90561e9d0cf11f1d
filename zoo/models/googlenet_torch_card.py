"""Cards of the models `zoo.models.googlenet_torch` registers, as plain data.

Read by `zoo list` and `zoo info` without building anything; written by `python -m zoo.core.cards
--write` and checked against the built models by tests/test_cards.py. Do not edit by hand.
"""

MODULE = 'zoo.models.googlenet_torch'

EXPORTS = ['convert_torchvision_state_dict', 'load_torchvision_weights']

CARDS = {}
