"""The pieces a task kind composes (TensorFlow): the `Task` base and the training, serving,
sequence and GAN pieces. The task kinds themselves are the modules of `zoo.tasks`; what each piece
does: docs/architecture.md.
"""
