"""Names that become folders (export names, tuning projects, runs) cannot leave their folder: every
verb refuses '.', '..', names of dots, path separators and absolute paths, with one line and exit
status 2, before anything is loaded, built or written."""

import os

import pytest

from zoo import cli
from zoo.core.registry import check_folder_name

BAD = ["..", ".", "...", "../evil", "a/b", "/tmp/abs", "a\\b", "", "x y"]


@pytest.mark.parametrize("name", BAD)
def test_check_folder_name_refuses(name):
    with pytest.raises(ValueError, match=r"`name` must be one folder name.*Received: name="):
        check_folder_name(name)


@pytest.mark.parametrize("name", ["resnet50", "model.v2", "a-b_c", ".hidden"])
def test_check_folder_name_keeps_plain_names(name):
    assert check_folder_name(name) == name


def _invocations():
    out = []
    for name in ("..", ".", "../evil", "/tmp/zoo_abs_evil", "a/b"):
        # the case: a model from a .keras file exported under the name '..'
        out.append(["export", name, "--keras-file", "missing.keras", "--export-dir", "sm"])
        out.append(["export", name, "--export-dir", "sm"])
        out.append(["tune", "highway_net", "--project-name", name, "--directory", "tune",
                    "--max-trials", "1"])
    out.append(["train", "../resnet50", "--run-dir", "run"])
    out.append(["info", "../resnet50"])
    return out


def _run(argv):
    """`zoo ARGV` in-process: its exit status (argparse's errors exit, zoo's return 2)."""
    try:
        return cli.main(argv)
    except SystemExit as e:
        return e.code


@pytest.mark.parametrize("argv", _invocations(), ids=lambda a: " ".join(a[:3]))
def test_every_verb_refuses_traversal_names_and_writes_nothing(argv, tmp_path, monkeypatch, capsys):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    assert _run(argv) == 2, argv
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert err and "error" in err[-1] and "Traceback" not in "".join(err), err
    assert sorted(os.listdir(tmp_path)) == ["work"] and os.listdir(work) == []
    assert not os.path.exists("/tmp/zoo_abs_evil")


# ---------------------------------------------------------------------------------------------
# One meaning per name (issue 26): every old name still works for one release, with a
# DeprecationWarning naming the new one.
# ---------------------------------------------------------------------------------------------


def test_zoo_info_prints_the_module_that_defines_the_model(capsys):
    assert cli.main(["info", "gru_classifier"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[:2] == ["name: gru_classifier", "module: zoo.models.recurrent"]
    assert cli.main(["info", "peephole_lstm_regressor", "--json"]) == 0
    assert '"module": "zoo.models.peephole_lstm"' in capsys.readouterr().out


def test_top_level_preprocess_input_is_no_family_s_but_still_googlenet_s_with_a_warning():
    import zoo
    from zoo.models import googlenet, resnet

    for name in ("preprocess_input", "decode_predictions"):
        with pytest.warns(DeprecationWarning, match=rf"zoo\.{name}.*zoo\.models\.resnet\.{name}"):
            fn = getattr(zoo, name)
        assert fn is getattr(googlenet, name)
        assert name not in zoo.__all__
    assert resnet.preprocess_input is not googlenet.preprocess_input


def test_card_key_flops_is_macs():
    import zoo

    card = zoo.model_card("resnet50")
    assert "flops" not in card and card["macs"] == 3_857_973_248
    with pytest.warns(DeprecationWarning, match=r'\["macs"\]'):
        assert card["flops"] == card["macs"]
    with pytest.warns(DeprecationWarning, match=r'\["macs_unit"\]'):
        assert card.get("flops_unit") == card["macs_unit"]
    assert card.get("nothing", 1) == 1


def test_flops_module_and_argument_are_macs():
    import importlib

    from zoo.core import macs, registry

    with pytest.warns(DeprecationWarning, match="zoo.core.macs"):
        assert importlib.import_module("zoo.core.flops") is macs
    with pytest.warns(DeprecationWarning, match="macs_input_shapes"):
        assert registry.flops_input_shapes is registry.macs_input_shapes
    with pytest.warns(DeprecationWarning, match="macs_input_shapes="):
        @registry.register_model(family="tiny_names", task="feature_classification", paper="-",
                                 input_shape=(3,), flops_input_shapes=[(3,)])
        def tiny_names_model():
            """-"""
    try:
        assert registry.get_spec("tiny_names_model").macs_input_shapes == [(3,)]
    finally:
        registry._REGISTRY.pop("tiny_names_model")


def test_weights_spec_sha256_is_file_hash():
    from zoo.core import weights

    with pytest.warns(DeprecationWarning, match="file_hash="):
        spec = weights.WeightsSpec(model="m", name="n", include_top=True, url="u", sha256="ab",
                                   file_name="f", hash_algorithm="md5")
    assert spec.file_hash == "ab"
    with pytest.warns(DeprecationWarning, match="WeightsSpec.file_hash"):
        assert spec.sha256 == "ab"
    with pytest.warns(DeprecationWarning, match="hash_of"):
        assert weights.sha256_of is weights.hash_of


def test_transformer_builder_is_transformer_seq2seq_with_vocabulary_size():
    import zoo

    tiny = dict(num_layers=1, d_model=8, d_ff=16, num_heads=2)
    with pytest.warns(DeprecationWarning, match="zoo.transformer_seq2seq"):
        old = zoo.transformer(vocabulary_size=30, **tiny)
    new = zoo.transformer_seq2seq(vocabulary_size=30, **tiny)
    assert old.count_params() == new.count_params()
    with pytest.warns(DeprecationWarning, match="vocabulary_size="):
        renamed = zoo.transformer_seq2seq(vocab_size=30, **tiny)
    assert renamed.count_params() == new.count_params()
    with pytest.warns(DeprecationWarning, match="vocabulary_size="):
        clf = zoo.create_model("transformer_classifier", vocab_size=30, classes=2, **tiny)
    assert clf.get_layer("token_embedding").vocab_size == 30


def test_peepholes_false_is_cell_lstm():
    import zoo

    with pytest.warns(DeprecationWarning, match='cell="lstm"'):
        old = zoo.peephole_lstm_regressor(input_shape=(5, 2), units=4, peepholes=False)
    new = zoo.peephole_lstm_regressor(input_shape=(5, 2), units=4, cell="lstm")
    assert [w.shape for w in old.weights] == [w.shape for w in new.weights]
    assert old.get_layer("lstm_1") is not None


def test_recurrent_family_lives_in_zoo_models_recurrent():
    import zoo
    from zoo.core.registry import module_of
    from zoo.models import peephole_lstm, recurrent

    assert module_of("gru_classifier") == "zoo.models.recurrent"
    assert module_of("peephole_lstm_classifier") == "zoo.models.peephole_lstm"
    assert zoo.gru_classifier is recurrent.gru_classifier
    with pytest.warns(DeprecationWarning, match="zoo.models.recurrent.gru_classifier"):
        assert peephole_lstm.gru_classifier is recurrent.gru_classifier


def test_aux_weight_is_aux_loss_weight():
    from zoo.tasks.image_classification import ImageClassification

    with pytest.warns(DeprecationWarning, match="aux_loss_weight="):
        task = ImageClassification(aux_weight=0.1)
    assert task.aux_loss_weight == 0.1
    with pytest.warns(DeprecationWarning, match="ImageClassification.aux_loss_weight"):
        assert task.aux_weight == 0.1
    assert ImageClassification().tuning_task({"aux_loss_weight": 0.2}).aux_loss_weight == 0.2


def test_the_old_task_kind_name_still_works_with_a_warning():
    import argparse

    from zoo.export import cli as export_cli
    from zoo.tasks import task_class

    with pytest.warns(DeprecationWarning, match="feature_classification"):
        assert task_class("classification") is task_class("feature_classification")
    parser = argparse.ArgumentParser()
    export_cli.add_cli(parser.add_subparsers())
    assert parser.parse_args(["export", "highway_net", "--task", "classification"]).task == "classification"
    with pytest.raises(ValueError, match="feature_classification"):
        from zoo.core.task_kinds import task_kind
        task_kind("no_such_task")
