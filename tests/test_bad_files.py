"""Bad files a user can hand the zoo (issue 30, point 2): each is refused with one line naming the
file (and the row, column or array), exit status 2 from the CLI and nothing created, before any
training work.

The probes are plain functions, one per family (`probe_torch_files`, `probe_image_folders`,
`probe_weights_files`, `probe_csv_files`, `probe_tune_overwrite`, `probe_warmup_file`), each taking
an empty folder and failing with an AssertionError on the first probe that is not refused as it
should be, so a red-team script can call them as they are. Each returns the names of its probes.
"""

import dataclasses
import functools
import os
import sys
import warnings
import zipfile

import numpy as np
import pytest

from zoo import cli

# --------------------------------------------------------------------------------- helpers


def _cli(argv, cwd, capsys):
    """`zoo ARGV` in `cwd`: `(exit status, stderr lines)`, checked to have created nothing."""
    before = sorted(os.listdir(cwd))
    here = os.getcwd()
    os.chdir(cwd)
    try:
        capsys.readouterr()
        rc = cli.main([str(a) for a in argv])
    finally:
        os.chdir(here)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip() and "Warning" not in line]
    assert sorted(os.listdir(cwd)) == before, (argv, sorted(os.listdir(cwd)), before)
    return rc, lines


def _refused_by_cli(argv, cwd, capsys, *words):
    rc, lines = _cli(argv, cwd, capsys)
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("zoo: error: "), (argv, rc, lines)
    for w in words:
        assert str(w) in lines[0], (w, lines[0])
    return lines[0]


def _refused(call, *words):
    """`fn(*args)` (`call` is `(fn, *args)`) raises a ValueError whose one-line message holds
    every one of `words`."""
    fn, *args = call
    try:
        fn(*args)
    except ValueError as e:
        msg = str(e)
    else:
        raise AssertionError(f"not refused; expected an error naming {words}")
    assert "\n" not in msg, msg
    for w in words:
        assert str(w) in msg, (w, msg)
    return msg


# --------------------------------------------------------------------------- torch .pth files


def _num(n):
    from zoo.core import torch_weights as tw

    if -2 ** 31 <= n < 2 ** 31:
        return tw._int(n)
    raw = n.to_bytes(n.bit_length() // 8 + 1, "little", signed=True)
    return b"\x8a" + bytes([len(raw)]) + raw  # pickle's LONG1, for numbers beyond 32 bits


def crafted_pth(path, size, stride, offset=0, numel=4, raw=None, stype="FloatStorage",
                pickle_bytes=None):
    """A zip file as `torch.save({"fc.weight": t})` writes it, with `t`'s sizes, strides,
    storage offset, storage length and type as given (its storage: 4 float32s, 0 1 2 3)."""
    from zoo.core import torch_weights as tw

    raw = np.arange(4, dtype="<f4").tobytes() if raw is None else raw
    pid = tw._tuple([tw._str("storage"), tw._global("torch", stype), tw._str("0"), tw._str("cpu"),
                     _num(numel)])
    tensor = (tw._global("torch._utils", "_rebuild_tensor_v2")
              + tw._tuple([pid + b"Q", _num(offset), tw._tuple([_num(d) for d in size]),
                           tw._tuple([_num(s) for s in stride]), b"\x89", tw._ordered_dict()])
              + b"R")
    body = b"\x80\x02" + tw._ordered_dict() + b"(" + tw._str("fc.weight") + tensor + b"u."
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", body if pickle_bytes is None else pickle_bytes(body))
        if raw is not False:
            z.writestr("archive/data/0", raw)
        z.writestr("archive/version", "3\n")
    return str(path)


TORCH_PROBES = {  # name: (crafted_pth arguments, what the error names)
    "4096 values from 4": (dict(size=(64, 64), stride=(64, 1)), "reaches element 4095"),
    "stride 2**40 (segfault)": (dict(size=(4,), stride=(1 << 40,)), "reaches element"),
    "negative stride": (dict(size=(4,), stride=(-1,), offset=3), "negative"),
    "negative size": (dict(size=(-1,), stride=(1,)), "negative"),
    "negative offset": (dict(size=(1,), stride=(1,), offset=-8), "negative"),
    "offset past the end": (dict(size=(2,), stride=(1,), offset=3), "reaches element 4"),
    "stride overflowing 64 bits": (dict(size=(2, 2), stride=(2 ** 63, 2 ** 63)), "reaches element"),
    "size overflowing 64 bits": (dict(size=(2 ** 64 + 1,), stride=(0,)), "more than its storage"),
    "broadcast 10**12 elements": (dict(size=(10 ** 6, 10 ** 6), stride=(0, 0)), "more than its"),
    "storage shorter than numel": (dict(size=(2,), stride=(1,), numel=1000), "fewer than"),
    "storage missing": (dict(size=(2,), stride=(1,), raw=False), "missing"),
    "unknown dtype": (dict(size=(2,), stride=(1,), stype="BFloat16Storage"), "not supported"),
    "size and stride of two lengths": (dict(size=(2, 2), stride=(1,)), "one length"),
    "pickle cut short": (dict(size=(2,), stride=(1,), pickle_bytes=lambda b: b[:-20]), "damaged"),
}


def probe_torch_files(tmp):
    """Crafted `.pth` files: every out-of-bounds view, unknown dtype and damaged pickle refused
    before any element is read; well-formed views (also transposed) read exactly."""
    from zoo.core.torch_weights import read_state_dict

    for i, (kwargs, words) in enumerate(TORCH_PROBES.values()):
        path = crafted_pth(os.path.join(tmp, f"probe{i}.pth"), **kwargs)
        _refused((read_state_dict, path), path, words)
    ok = read_state_dict(crafted_pth(os.path.join(tmp, "ok.pth"), size=(2, 2), stride=(1, 2),
                                     offset=0))
    np.testing.assert_array_equal(ok["fc.weight"], [[0, 2], [1, 3]])
    ok = read_state_dict(crafted_pth(os.path.join(tmp, "ok2.pth"), size=(3,), stride=(1,), offset=1))
    np.testing.assert_array_equal(ok["fc.weight"], [1, 2, 3])
    with open(os.path.join(tmp, "not.pth"), "wb") as f:
        f.write(b"PK\x03\x04" + bytes(100))
    _refused((read_state_dict, os.path.join(tmp, "not.pth")), "not a torch zip file")
    return list(TORCH_PROBES) + ["not a zip"]


def test_torch_files_out_of_bounds_refused(tmp_path):
    assert len(probe_torch_files(str(tmp_path))) == len(TORCH_PROBES) + 1


def test_torch_file_that_segfaulted_zoo_build_is_one_line(tmp_path, capsys):
    path = crafted_pth(tmp_path / "w.pth", size=(4,), stride=(1 << 40,))
    _refused_by_cli(["build", "googlenet_torchvision", "--set", f"weights={path}"], tmp_path,
                    capsys, path, "reaches element")


# ------------------------------------------------------------------------------ image folders


def _png(path, value=0, size=8):
    import tensorflow as tf

    os.makedirs(os.path.dirname(path), exist_ok=True)
    image = np.full((size, size, 3), value, np.uint8)
    data = (tf.io.encode_jpeg if path.endswith(".jpg") else tf.io.encode_png)(image).numpy()
    with open(path, "wb") as f:
        f.write(data)
    return data


def probe_image_folders(tmp):
    """Class indices shared by every split (from training's), unknown test or validation classes
    refused, and empty, cut-short and non-image files named before any decoding."""
    from zoo.data.images import image_folder_source

    root = os.path.join(tmp, "pets")
    for split, classes in (("train", ("cat", "dog")), ("test", ("dog",))):
        for c in classes:
            for k in range(2):
                _png(os.path.join(root, split, c, f"{k}.png"), value=100 * (c == "dog"))
    src = image_folder_source(root)
    assert src.info["class_names"] == ["cat", "dog"]
    test_labels = [int(y) for _, y in src.test().as_numpy_iterator()]
    assert test_labels == [1, 1], "the test dogs must keep the training split's index of dog"
    os.makedirs(os.path.join(root, "val", "bird"))
    _png(os.path.join(root, "val", "bird", "0.png"))
    _refused((image_folder_source, root), "'bird'", "training split lacks")
    os.rename(os.path.join(root, "val"), os.path.join(root, "validation"))
    os.rename(os.path.join(root, "test"), os.path.join(root, "test_"))
    os.rename(os.path.join(root, "validation"), os.path.join(root, "test"))
    _refused((image_folder_source, root), "'bird'")

    bad = os.path.join(tmp, "bad")
    good_png = _png(os.path.join(bad, "a", "0.png"))
    good_jpg = _png(os.path.join(bad, "b", "0.jpg"), value=200)
    image_folder_source(bad, test_fraction=0.0)
    probes = {"empty.png": b"", "cut.png": good_png[: len(good_png) // 2],
              "cut.jpg": good_jpg[: len(good_jpg) - 10], "text.jpg": b"just some text\n",
              "cut.bmp": b"BM" + (5000).to_bytes(4, "little") + bytes(60)}
    for name, data in probes.items():
        path = os.path.join(bad, "a", name)
        with open(path, "wb") as f:
            f.write(data)
        _refused((functools.partial(image_folder_source, test_fraction=0.0), bad), path)
        os.remove(path)
    return ["test dogs keep dog's index", "unknown validation class", "unknown test class",
            *probes]


def test_image_folders_share_class_indices_and_name_damaged_files(tmp_path):
    assert len(probe_image_folders(str(tmp_path))) == 8


def test_zoo_train_names_a_damaged_image_before_training(tmp_path, capsys):
    for c in ("cat", "dog"):
        _png(str(tmp_path / "pets" / c / "0.png"))
    (tmp_path / "pets" / "dog" / "1.png").write_bytes(b"")
    _refused_by_cli(["train", "googlenet", "--dataset", tmp_path / "pets", "--epochs", "1",
                     "--steps-per-epoch", "1", "--run-dir", "run", "--no-export"],
                    tmp_path, capsys, tmp_path / "pets" / "dog" / "1.png", "is empty")


# -------------------------------------------------------------------------- weights and models


def _tiny_model():
    import keras

    inp = keras.Input((32,))
    return keras.Model(inp, keras.layers.Dense(32, name="dense")(inp))


def _garbled(data, offset, n=2000, seed=1):
    data = bytearray(data)
    data[offset:offset + n] = np.random.default_rng(seed).integers(0, 256, n, np.uint8).tobytes()
    return bytes(data)


def _garbled_finite(data, offset, n=500, seed=2):
    """`n` float32s at `offset` replaced by random bit patterns that are all finite (as random
    bytes are, but for their rare NaN and inf): magnitudes up to 3e38."""
    bits = np.random.default_rng(seed).integers(0, 2 ** 32, n, np.uint32)
    bits[(bits >> 23 & 0xFF) == 0xFF] &= np.uint32(0xBFFFFFFF)  # exponent 255 -> 127
    data = bytearray(data)
    data[offset:offset + 4 * n] = bits.astype("<u4").tobytes()
    return bytes(data)


def probe_weights_files(tmp):
    """`.weights.h5` without a sidecar: garbled data, cut short, empty, damaged header refused
    (a clean one loads, with a warning that its bytes cannot be checked); a `.keras` file with a
    bad CRC refused naming it; nothing is loaded into the model."""
    import h5py

    from zoo.core.saving import load_model, save_model
    from zoo.core.weights import load_weights

    model = _tiny_model()
    clean = os.path.join(tmp, "clean.weights.h5")
    model.save_weights(clean)
    with open(clean, "rb") as f:
        data = f.read()
    with h5py.File(clean, "r") as f:
        at = f["layers/dense/vars/0"].id.get_offset()
    probes = {"garbled": (_garbled(data, at + 1000), "non-finite"),
              "garbled, all finite": (_garbled_finite(data, at + 400), "beyond 1e+30"),
              "cut short": (data[: len(data) // 2], "not a readable HDF5 file"),
              "empty": (b"", "not a readable HDF5 file"),
              "header garbled": (_garbled(data, 100, 200), "not a readable HDF5 file")}
    before = [w.numpy() for w in model.weights]
    for i, (raw, words) in enumerate(probes.values()):
        path = os.path.join(tmp, f"probe{i}.weights.h5")
        with open(path, "wb") as f:
            f.write(raw)
        _refused((load_weights, model, path), path, words, "Nothing was loaded")
        for w, b in zip(model.weights, before):
            np.testing.assert_array_equal(w.numpy(), b)
    with pytest.warns(UserWarning, match="no .zoo.json sidecar"):
        load_weights(model, clean)
    keras_file = save_model(model, os.path.join(tmp, "m.keras"))
    with zipfile.ZipFile(keras_file) as z:
        info = z.getinfo("model.weights.h5")
    with open(keras_file, "rb") as f:
        data = f.read()
    bad = os.path.join(tmp, "bad.keras")  # no sidecar: only the zip's own CRC can tell
    with open(bad, "wb") as f:
        f.write(_garbled(data, info.header_offset + 30 + len(info.filename) + 2000, 16))
    _refused((load_model, bad), bad, "Bad CRC", "Nothing was loaded")
    return [*probes, ".keras bad CRC"]


def test_weights_files_without_sidecar_refused_when_damaged(tmp_path):
    assert len(probe_weights_files(str(tmp_path))) == 6


def test_zoo_export_of_a_keras_file_with_a_bad_crc_is_one_line(tmp_path, capsys):
    from zoo.core.saving import save_model

    path = save_model(_tiny_model(), str(tmp_path / "m.keras"))
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("model.weights.h5")
    data = open(path, "rb").read()
    os.remove(path)
    os.remove(path + ".zoo.json")
    (tmp_path / "m.keras").write_bytes(_garbled(data, info.header_offset + 100, 16))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _refused_by_cli(["export", "highway_net", "--keras-file", path, "--export-dir", "sm"],
                        tmp_path, capsys, path, "damaged")


# ----------------------------------------------------------------------------------- CSV


CSV_PROBES = {  # name: (file text, what the error names)
    "duplicate column": ("a,b,a,y\n1,2,3,4\n5,6,7,8\n", "more than once: ['a']"),
    "extra cell": ("a,b,y\n1,2,3\n4,5,6,7\n8,9,10\n", "row 3 has 4 cells"),
    "missing cell": ("a,b,y\n1,2,3\n4,5\n8,9,10\n", "row 3 has 2 cells"),
    "blank row inside": ("a,b,y\n1,2,3\n\n8,9,10\n", "row 3 has 0 cells"),
}


def probe_csv_files(tmp):
    """CSV files whose cells would land in the wrong columns: refused naming the columns or the
    row; blank lines at the end are no data and are read as before."""
    from zoo.data.series import read_csv

    for i, (text, words) in enumerate(CSV_PROBES.values()):
        path = os.path.join(tmp, f"probe{i}.csv")
        with open(path, "w") as f:
            f.write(text)
        _refused((read_csv, path, "y"), path, words)
    path = os.path.join(tmp, "ok.csv")
    with open(path, "w") as f:
        f.write("a,b,y\n1,2,3\n4,5,6\n\n\n")
    s = read_csv(path, "y")
    np.testing.assert_array_equal(s.target, [3, 6])
    return list(CSV_PROBES)


def test_csv_files_with_shifted_cells_refused(tmp_path):
    assert len(probe_csv_files(str(tmp_path))) == 4


def test_zoo_train_refuses_a_csv_with_an_extra_cell(tmp_path, capsys):
    (tmp_path / "d.csv").write_text("a,b,y\n" + "".join(f"{i},{i},{i}\n" for i in range(30))
                                    + "1,2,3,4\n")
    _refused_by_cli(["train", "da_rnn", "--csv", "d.csv", "--target", "y", "--epochs", "1",
                     "--run-dir", "run", "--no-export"], tmp_path, capsys, "row 32 has 4 cells")


# ---------------------------------------------------------------------- zoo tune --overwrite


def probe_tune_overwrite(tmp):
    """A folder zoo did not write as a tuning project is never deleted nor written into; an
    empty folder, one with zoo's marker and an older project (keras-tuner's oracle.json) pass."""
    from zoo.tuning.search import PROJECT_MARKER, check_own_project

    user = os.path.join(tmp, "mine")
    os.makedirs(user)
    with open(os.path.join(user, "data.txt"), "w") as f:
        f.write("precious\n")
    for overwrite in (True, False):
        _refused((check_own_project, user, overwrite), user, "not a tuning project",
                 "data.txt")
    for marker in (None, PROJECT_MARKER, "oracle.json"):
        own = os.path.join(tmp, f"own_{marker}")
        os.makedirs(own)
        if marker:
            open(os.path.join(own, marker), "w").close()
        check_own_project(own, True)
    return ["--overwrite on a user folder", "resume into a user folder"]


def test_tune_overwrite_deletes_only_its_own_projects(tmp_path, capsys):
    assert len(probe_tune_overwrite(str(tmp_path))) == 2
    user = tmp_path / "tune" / "p"
    user.mkdir(parents=True)
    (user / "data.txt").write_text("precious\n")
    _refused_by_cli(["tune", "highway_net", "--directory", "tune", "--project-name", "p",
                     "--overwrite", "--max-trials", "1", "--no-export"], tmp_path, capsys,
                    user.relative_to(tmp_path), "not a tuning project")
    assert (user / "data.txt").read_text() == "precious\n"


@pytest.mark.slow
def test_tune_writes_its_marker_and_overwrite_then_works(tmp_path):
    from zoo.tuning.search import PROJECT_MARKER, SearchSettings, make_tuner

    settings = SearchSettings(directory=str(tmp_path), project_name="p", tuner="grid")
    t = make_tuner("highway_net", settings)
    assert os.path.isfile(os.path.join(t.project_dir, PROJECT_MARKER))
    (tmp_path / "p" / "leftover.txt").write_text("x")
    make_tuner("highway_net", dataclasses.replace(settings, overwrite=True))
    assert not (tmp_path / "p" / "leftover.txt").exists()


# ------------------------------------------------------------------------ zoo verify warm-up


def probe_warmup_file(tmp, capsys=None):
    """A garbled or cut-short TF Serving warm-up file: `read_warmup_requests` and `zoo verify`
    name it in one line (exit 2) instead of a traceback."""
    import keras

    from zoo import export as ex
    from zoo.export.warmup import WARMUP_FILE, read_warmup_requests

    i = keras.Input((8, 8, 3), name="image")
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(2, 3)(i))
    model = keras.Model(i, keras.layers.Dense(3, activation="softmax", name="predictions")(x))
    path = ex.export_model(model, "tiny", task="image_classification",
                           export_dir=os.path.join(tmp, "sm"))
    warm = os.path.join(path, WARMUP_FILE)
    with open(warm, "rb") as f:
        data = f.read()
    names = []
    for name, raw in (("garbled", _garbled(data, len(data) // 3, 64)),
                      ("cut short", data[: len(data) - 7])):
        with open(warm, "wb") as f:
            f.write(raw)
        _refused((read_warmup_requests, path), warm, "damaged")
        names.append(name)
    # `zoo verify` (a fresh TensorFlow process: once) on the cut-short file
    if capsys is not None:
        _refused_by_cli(["verify", path], tmp, capsys, warm, "damaged")
    else:
        _refused((ex.verify, path), warm, "damaged")
    return names


@pytest.mark.slow
def test_zoo_verify_names_a_damaged_warm_up_file(tmp_path, capsys):
    assert probe_warmup_file(str(tmp_path), capsys) == ["garbled", "cut short"]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q", "-n", "0"]))
