"""Task by role: the renamed task names warn and still work; no workflow names a task kind or a
model (issue 26)."""

import pytest


def test_flag_defaults_old_name_warns():
    from zoo.tasks.image_classification import ImageClassification

    with pytest.deprecated_call(match="flag_defaults"):
        old = ImageClassification.train_defaults
    assert old == ImageClassification.flag_defaults
    with pytest.deprecated_call(match="flag_defaults"):
        assert ImageClassification().train_defaults["epochs"] == 10


def test_trial_defaults_old_name_warns():
    from zoo.tasks import task_for

    task = task_for("gcn")
    with pytest.deprecated_call(match="trial_defaults"):
        assert task.training_defaults() == task.trial_defaults()


def test_task_kind_with_old_attribute_names_still_works():
    from zoo.roles.task import Task

    with pytest.deprecated_call(match="flag_defaults"):
        class Old(Task):
            train_defaults = {"epochs": 3}

            def training_defaults(self):
                return {"learning_rate": 0.5}

            def eval_step(self, model, batch):
                return {"seen_sum": 1.0}

    assert Old.flag_defaults == {"epochs": 3}
    assert Old().trial_defaults() == {"learning_rate": 0.5}
    assert Old().evaluation_step(None, None) == {"seen_sum": 1.0}


@pytest.mark.parametrize("old, module, new", [
    ("ClassificationTask", "zoo.tasks.image_classification", "ImageClassification"),
    ("RegressionTask", "zoo.tasks.sequence_regression", "SequenceRegression"),
    ("Seq2SeqTask", "zoo.tasks.translation", "Translation"),
    ("GANTask", "zoo.tasks.image_generation", "ImageGeneration"),
])
def test_train_task_aliases_warn_and_name_the_class(old, module, new):
    import importlib

    import zoo.train

    with pytest.deprecated_call(match=f"{module}.{new}"):
        cls = getattr(zoo.train, old)
    assert cls is getattr(importlib.import_module(module), new)


def test_model_builder_is_builder_fn():
    import zoo.train

    with pytest.deprecated_call(match="zoo.train.builder_fn"):
        fn = zoo.train.model_builder
    assert fn is zoo.train.builder_fn
    assert fn("highway_net", ["depth=2"], classes=3)().name == "highway_net"


def test_export_tasks_old_name_warns():
    import zoo.export

    with pytest.deprecated_call(match="zoo.export.EXPORT_TASKS"):
        old = zoo.export.TASKS
    assert old == zoo.export.EXPORT_TASKS and "generic" in old
    from zoo.export import archive

    with pytest.deprecated_call(match="zoo.export.EXPORT_TASKS"):
        assert archive.TASKS == zoo.export.EXPORT_TASKS


def test_gan_latents_old_name_warns():
    from zoo.roles import gan_training

    with pytest.deprecated_call(match="latent_batch"):
        z = gan_training.latents(3, 5)
    assert tuple(z.shape) == (3, 5) == tuple(gan_training.latent_batch(3, 5).shape)
    assert float(abs(z).numpy().max()) <= 1.0


def test_space_of_is_defined_once():
    import zoo.tuning
    from zoo.core.registry import get_spec
    from zoo.tasks import space_of, task_for
    from zoo.tuning import cli, hypermodel

    assert zoo.tuning.space_of is space_of is hypermodel.space_of  # one definition, in zoo.tasks
    assert not hasattr(cli, "space_of")  # `zoo tune --show-space` imports it only when needed
    assert zoo.tuning.default_search_space is hypermodel.default_search_space
    import dataclasses

    spec = get_spec("gcn")
    assert space_of(spec) is spec.search_space
    bare = dataclasses.replace(spec, search_space=None)  # declares none: its task's default
    assert space_of(bare).__func__ is type(task_for("gcn")).default_space


WORKFLOWS = ("zoo/train", "zoo/export", "zoo/tuning")


def _code_strings(path):
    """The string constants of a module's code (docstrings left out)."""
    import ast

    tree = ast.parse(open(path).read())
    docs = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docs.add(id(body[0].value))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            yield node.lineno, node.value


def test_no_workflow_names_a_task_kind_or_a_model():
    """What differs per task kind is in its role pieces (zoo.roles, zoo.tasks): the workflow
    packages never name a task kind, a registered model or a family, nor compare a task."""
    import glob
    import os
    import re

    from zoo.core.registry import RENAMED_TASKS, TASKS, get_spec, list_models

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    names = set(TASKS) | set(RENAMED_TASKS) | set(list_models())
    names |= {get_spec(n).family for n in list_models()}
    found = []
    for package in WORKFLOWS:
        for path in sorted(glob.glob(os.path.join(root, package, "*.py"))):
            rel = os.path.relpath(path, root)
            for line, text in _code_strings(path):
                if text in names:
                    found.append(f"{rel}:{line} names {text!r}")
            for i, line in enumerate(open(path), 1):
                if re.search(r"\btask\s*[!=]=|[!=]=\s*task\b", line):
                    found.append(f"{rel}:{i} compares a task: {line.strip()}")
    assert not found, "\n".join(found)


def test_the_name_check_finds_a_task_kind(tmp_path):
    path = tmp_path / "workflow.py"
    path.write_text('"""Docstrings may say image_generation."""\nif kind == "translation":\n    pass\n')
    assert [text for _, text in _code_strings(str(path))] == ["translation"]


def test_functions_are_short_or_say_why():
    """Nothing in zoo/ over 60 lines without a reason: a comment right above the `def` (or its
    decorators) saying why it is long (issue 26)."""
    import ast
    import glob
    import os

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    long = []
    for path in sorted(glob.glob(os.path.join(root, "zoo", "**", "*.py"), recursive=True)):
        lines = open(path).read().splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                first = min([node.lineno] + [d.lineno for d in node.decorator_list])
                size = node.end_lineno - node.lineno + 1
                if size > 60 and not lines[first - 2].strip().startswith("#"):
                    long.append(f"{os.path.relpath(path, root)}:{node.lineno} {node.name} ({size} lines)")
    assert not long, "\n".join(long)


def test_serving_roles_and_export_module():
    import keras

    from zoo.roles.serving import ExportModule, GenericServing
    from zoo.tasks import EXPORT_TASKS, guess_export_task, serving_for
    from zoo.tasks.image_classification import ImageClassification

    assert isinstance(serving_for("generic"), GenericServing) and EXPORT_TASKS[-1] == "generic"
    assert type(serving_for("image_classification")) is ImageClassification
    with pytest.raises(ValueError, match="must be one of"):
        serving_for("painting")
    inp = keras.Input((8, 8, 3))
    classifier = keras.Model(inp, keras.layers.Dense(4)(keras.layers.Flatten()(inp)))
    assert guess_export_task(classifier) == "image_classification"
    vec = keras.Input((3,), name="x")
    plain = keras.Model(vec, keras.layers.Dense(2)(vec))
    assert guess_export_task(plain) == "generic"
    module = ExportModule(ImageClassification(), classifier, top_k=2, preprocessing="unit")
    assert module.options == {"top_k": 2, "preprocessing": "unit"}
    assert [ep.name for ep in module.endpoints()] == ["serving_default", "classify_float",
                                                      "image_bytes"]
    generic = ExportModule(GenericServing(), plain)
    (ep,) = generic.endpoints()
    assert [t.name for t in ep.inputs] == ["x"] and generic.options == {}
