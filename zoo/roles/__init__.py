"""The pieces a task kind composes (TensorFlow): the `Task` base, the serving pieces its
signatures are made of, the shared sequence-model pieces and the GAN training step. The task
kinds themselves are the modules of `zoo.tasks`.
"""
