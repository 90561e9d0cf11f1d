"""The core of zoo (no Keras, no TensorFlow at import): the registry of models and task kinds,
model cards, search-space conventions, hash-checked weights files, multiply-add counts and the
argument checks every builder shares. Everything above it imports from here.
"""
