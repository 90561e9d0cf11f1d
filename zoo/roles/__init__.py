"""The pieces a task kind composes (TensorFlow; docs/architecture.md): the four roles
(`training`, `recipe`, `serving` with `ExportModule`, `search`) that `task.Task` combines, and the
shared sequence-model pieces and GAN training step. The task kinds are the modules of `zoo.tasks`.
"""
