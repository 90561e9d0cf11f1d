"""The bottom layer of zoo, importable without Keras or TensorFlow: the registry of models and task
kinds, model cards, the search-space convention, hash-checked weights and saved files, multiply-add
counts, the builders' argument checks and the moved names. Layout: docs/architecture.md.
"""
