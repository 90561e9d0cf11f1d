"""Writing SavedModels that TF Serving loads (`export_model`), TensorFlow only.

`export_model` writes `<export_dir>/<name>/<version>/` (TF Serving's layout: an integer version
folder, the next free one by default) through `keras.export.ExportArchive`, with the *named*
signatures of the model's task (`zoo.tasks.<task>.endpoints`). The version is written into a
hidden temporary folder beside it and renamed into place only when complete, so a crash never
leaves a partial version that a server would load. Each export carries
`assets.extra/signatures.json` and `assets.extra/README.md`; `write_model_config` writes TF
Serving's `models.config`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import json
import os
import shutil
import tempfile
import threading
import time
import uuid
from typing import Any, Dict, List

from zoo.core.lazy import lazy_attributes
from zoo.core.locks import FolderLock, pid_alive, real_folder
from zoo.core.registry import check_folder_name, get_spec
from zoo.core.saving import check_writable_folder
from zoo.core.weights import preprocessing_of, set_preprocessing
from zoo.export.warmup import write_batching_parameters, write_warmup_requests
from zoo.roles.serving import (
    Endpoint,
    ExportModule,
    ServingRole,
    callable_name,
    finite_outputs,
    named_function,
    select_outputs,
)
from zoo.tasks import EXPORT_TASKS, guess_export_task, serving_for, task_for

__all__ = ["EXPORT_TASKS", "TMP_PREFIX", "export_model", "endpoints_for", "next_version", "list_versions",
           "write_model_config", "serving_options"]

TMP_PREFIX = ".incomplete-"
# how long an export waits for another one writing the same <export_dir>/<name> (then refuses)
LOCK_WAIT_S = 900.0


# exports under way in this process and whether the first one turned the garbage collector off
_GC_PAUSE = {"exports": 0, "turned_off": False}
_GC_LOCK = threading.Lock()


# the old name of EXPORT_TASKS, for one release
__getattr__ = lazy_attributes(__name__, {}, deprecated={"TASKS": "zoo.export:EXPORT_TASKS"})


def _registered(name):
    """The registered spec of `name`, else None."""
    try:
        return get_spec(name)
    except ValueError:
        return None


def endpoints_for(model, task, **opts) -> List[Endpoint]:
    """The named signatures of `model` for `task` (a kind of `EXPORT_TASKS` or a `Task`)."""
    serving = task if isinstance(task, ServingRole) else serving_for(task)
    return serving.endpoints(model, **opts)


def list_versions(model_dir) -> List[int]:
    """Integer version folders under `model_dir` (what TF Serving would load), sorted."""
    if not os.path.isdir(model_dir):
        return []
    return sorted(int(d) for d in os.listdir(model_dir)
                  if d.isdigit() and os.path.isdir(os.path.join(model_dir, d)))


def next_version(model_dir) -> int:
    """The next free integer version under `model_dir` (1 for a new model)."""
    versions = list_versions(model_dir)
    return versions[-1] + 1 if versions else 1


def _clean_stale_tmp(model_dir):
    """Remove temporary folders left by exports whose process died (a crash mid-write)."""
    if not os.path.isdir(model_dir):
        return
    for d in os.listdir(model_dir):
        if d.startswith(TMP_PREFIX):
            try:
                pid = int(d[len(TMP_PREFIX):].split("-")[0])
            except ValueError:
                continue
            if not pid_alive(pid):
                shutil.rmtree(os.path.join(model_dir, d), ignore_errors=True)


def serving_options(name, model=None) -> Dict[str, Any]:
    """Default export options of registered model `name` (`{}` for other names): its task's
    `export_options` (the preprocessing its weights were trained with, see `zoo.roles.task`).

    Example:
        >>> serving_options("resnet50")
        {'preprocessing': 'caffe'}
    """
    spec = _registered(name)
    return {} if spec is None else task_for(spec).export_options(spec, model)


def _jsonable_opts(opts):
    out = {}
    for k, v in opts.items():
        if callable(v):
            out[k] = callable_name(v)
        elif isinstance(v, tuple):
            out[k] = list(v)
        else:
            try:
                json.dumps(v)
                out[k] = v
            except TypeError:
                out[k] = repr(v)
    return out


def _fsync_tree(root):
    for dirpath, _, files in os.walk(root):
        for f in files:
            try:
                fd = os.open(os.path.join(dirpath, f), os.O_RDONLY)
                os.fsync(fd)
                os.close(fd)
            except OSError:
                pass


def _check_version(version):
    if version is not None and (not isinstance(version, int) or isinstance(version, bool)
                                or not 0 <= version <= 2 ** 63 - 1):  # TF Serving reads an int64
        raise ValueError("`version` must be None or an integer from 0 to 2**63-1 (TF Serving's int64 "
                         f"version). Received: version={version!r}")


def _check_backend():
    import keras

    if keras.backend.backend() != "tensorflow":
        raise ValueError(
            "zoo.export writes TensorFlow SavedModels and needs KERAS_BACKEND=tensorflow. "
            f"Received: backend={keras.backend.backend()!r}"
        )


def export_model(model, name, task=None, export_dir="saved_models", version=None, *,
                 outputs=None, inference_model=None, write_config=True, verbose=False,
                 **opts) -> str:
    """Export `model` as `<export_dir>/<name>/<version>/`, a SavedModel TF Serving loads.

    Args:
        model: a `keras.Model` (TensorFlow backend).
        name: the served model's name (the folder under `export_dir`), e.g. `"resnet50"`.
        task: one of `EXPORT_TASKS` or a `zoo.roles.task.Task`; `None` takes the registry's task for
            `name`, else guesses (image classifier or `"generic"`). The task's `export_options`
            give the default `**opts`: the preprocessing the weights were trained with
            (`zoo.core.weights.preprocessing_of(model)`: a zoo training run's pipeline or a registered
            weights file's), else the card's, else the task pipeline's.
        export_dir: the folder holding all served models (and `models.config`).
        version: integer version; `None` takes the next free one. An existing version is an error.
        outputs: which outputs to serve (index, name or list); `None` drops outputs whose layer
            name contains "aux" (GoogLeNet's auxiliary classifiers).
        inference_model: serve this model instead of `model` (e.g. a GAN's generator); its
            weights are `model`'s when it shares layers.
        write_config: also (re)write `<export_dir>/models.config`.
        verbose: print the endpoints as Keras does.
        **opts: task options: `preprocessing` (image tasks: one of `PREPROCESSING_MODES`, a
            callable or `"module:function"`), `image_size` ((h, w) for models without a fixed
            size), `resize_method`, `top_k` (default 5), `output_activation` (`"auto"`,
            `"identity"`, `"softmax"`, `"sigmoid"`), `pad_value` (sequences), `translate_fn`,
            `max_length`, `beam_size`, `alpha` (translation), `output_range` (generation, default
            (-1, 1)), `sample_vocab` (largest token id + 1 in `verify`'s samples), `tokenizer`
            (a text classifier of token ids: its `zoo.data.subword.SubwordTokenizer` or
            `tokenizer.model` file, for a model that does not record one; docs/text.md).

    Returns:
        The path of the version folder.

    Example:
        >>> path = export_model(model, "tiny", task="image_classification", export_dir="/tmp/sm")
    """
    check_folder_name(name, "name")
    export_dir = real_folder(check_writable_folder(export_dir, "export_dir"))
    _check_version(version)
    _check_backend()
    served = inference_model if inference_model is not None else model
    module = _export_module(served, name, task, outputs, opts)
    allow_non_finite = module.options.pop("allow_non_finite", False)
    if not isinstance(allow_non_finite, bool):
        raise ValueError("`allow_non_finite` must be True or False. "
                         f"Received: allow_non_finite={allow_non_finite!r}")
    with _collector_paused():
        endpoints = module.endpoints(_trace_once=True)
        opts = dict(module.options, allow_non_finite=allow_non_finite)  # in signatures.json
        final = _write_version(module, endpoints, export_dir, name, version, opts, outputs, verbose)
    if write_config:  # one writer at a time, so that each one lists every finished version
        with FolderLock(export_dir, "export folder", "export_dir", wait=LOCK_WAIT_S,
                        lock_name=".models.config.zoo.lock"):
            write_model_config(export_dir)
    return final


@contextlib.contextmanager
def _collector_paused():
    """Python's cyclic garbage collector off while an export traces and saves, back on (where it
    was on) when the last export of the process ends.

    An export creates objects that live until it ends by the hundred thousand (some 20,000
    graph ops for a ResNet-152, with their tensors and captures); so many survivors make the
    collector run full collections, each one over the whole heap, models included: 11 of them,
    11.3 s CPU, in the 19 exports of `tests/test_export_families.py`'s
    `test_every_other_registered_model_is_exported_and_verified` (a loaded machine). With the
    collector off, the cycles an export leaves are collected after it, in one collection of
    the young generation. Those 19 exports, side by side on the shared 2-core machine: 86.8 and
    87.9 s CPU with the collector on, 78.5 and 79.0 s off; the whole process, its 19 model
    builds included, 117.1 and 118.4 s, 111.3 and 109.9 s; peak memory 2.1 and 2.0 GB."""
    with _GC_LOCK:
        if _GC_PAUSE["exports"] == 0:
            _GC_PAUSE["turned_off"] = gc.isenabled()
            gc.disable()
        _GC_PAUSE["exports"] += 1
    try:
        yield
    finally:
        with _GC_LOCK:
            _GC_PAUSE["exports"] -= 1
            if _GC_PAUSE["exports"] == 0 and _GC_PAUSE["turned_off"]:
                _GC_PAUSE["turned_off"] = False
                gc.enable()


def _write_version(module, endpoints, export_dir, name, version, opts, outputs, verbose):
    """Write the version folder: into a hidden temporary folder, renamed into place when
    complete; returns its path. One export at a time per `<export_dir>/<name>` (a second one
    waits for the first, then takes the next version)."""
    model_dir = os.path.join(export_dir, name)
    lock = FolderLock(export_dir, "export folder", "export_dir", wait=LOCK_WAIT_S,
                      lock_name=f".{name}.zoo.lock")  # beside, not in, the folder TF Serving reads
    lock.target = model_dir
    with lock:
        os.makedirs(model_dir, exist_ok=True)
        return _write_version_locked(module, endpoints, model_dir, name, version, opts, outputs,
                                     verbose)


def _write_version_locked(module, endpoints, model_dir, name, version, opts, outputs, verbose):
    _clean_stale_tmp(model_dir)
    version = next_version(model_dir) if version is None else version
    final = os.path.join(model_dir, str(version))
    if os.path.exists(final):
        raise ValueError(f"Version {version} of {name!r} already exists at {final}. "
                         f"Received: version={version}")
    tmp = os.path.join(model_dir, f"{TMP_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        _write_archive(module.model, endpoints, tmp, verbose=verbose,
                       allow_non_finite=opts["allow_non_finite"])
        sigdoc = _write_docs(tmp, name, module.serving.name, version, endpoints, opts, outputs)
        write_warmup_requests(tmp, name, sigdoc)
        write_batching_parameters(tmp)
        _fsync_tree(tmp)
        if os.path.exists(final):
            raise FileExistsError(f"{final} appeared while exporting")
        os.rename(tmp, final)  # atomic on one file system: a server sees all or nothing
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def _export_module(served, name, task, outputs, opts) -> ExportModule:
    """The `ExportModule` of an export: `task` (a `ServingRole`, a kind of `EXPORT_TASKS` or None:
    the registry's task of `name`, else a guess) bound to `served` with its outputs selected; the
    role's `export_options` for the registered spec give the defaults of `opts`."""
    if task is None:
        spec = _registered(name)
        task = spec.task if spec is not None else guess_export_task(served)
    serving = task if isinstance(task, ServingRole) else serving_for(task)
    if serving.name not in EXPORT_TASKS:
        raise ValueError(f"`task` must be None or one of {EXPORT_TASKS}. Received: task={serving.name!r}")
    spec = _registered(name)
    if spec is not None and not serving.serves(spec):  # registered with another task
        spec = None
    # the options default to the role's for the selected model, which keeps the preprocessing its
    # weights were trained with (recorded by training or a weights load; else the card's, else
    # the task pipeline's); explicit options win
    selected = set_preprocessing(select_outputs(served, outputs), preprocessing_of(served))
    return ExportModule(serving, selected, spec, **opts)


def guarded(ep, allow_non_finite=False):
    """`ep.fn` behind checks that run inside the exported graph, so that TF Serving refuses a
    request the model cannot answer with `InvalidArgument` naming the input: each input's rank
    and fixed sizes (`EnsureShape`: "Shape of tensor images [2,16,16,3] is not compatible with
    expected shape [?,?,?,1]"), one batch size for all batched inputs, and (unless
    `allow_non_finite`) no NaN or infinite float values in or out.

    The shape check is `EnsureShape`, not an assertion on `tf.rank`/`tf.shape`: Grappler folds
    those into constants from the signature's declared shapes, so they would never fire."""
    import tensorflow as tf

    def fn(**kw):
        kw = {t.name: tf.ensure_shape(kw[t.name], t.shape) if t.shape is not None else kw[t.name]
              for t in ep.inputs}
        checks, batch = [], None
        for t in ep.inputs:
            if t.shape and t.shape[0] is None:
                first = tf.shape(kw[t.name])[0]
                if batch is None:
                    batch = (t.name, first)
                else:
                    checks.append(tf.debugging.Assert(tf.equal(first, batch[1]), [
                        f"inputs '{batch[0]}' and '{t.name}' of one request must have the same "
                        f"batch size; received", batch[1], first]))
        if not allow_non_finite:
            with tf.control_dependencies(checks):
                checks += [tf.debugging.check_numerics(
                    kw[t.name], f"input '{t.name}' holds NaN or infinite values (export with "
                                f"allow_non_finite=True to serve them)")
                    for t in ep.inputs if tf.as_dtype(t.dtype).is_floating]
        with tf.control_dependencies(checks):
            kw = {k: tf.identity(v) for k, v in kw.items()}
        out = ep.fn(**kw)  # and (unless allowed) no NaN or infinite output of finite inputs
        return out if allow_non_finite else finite_outputs(out)

    return fn


def _write_archive(model, endpoints, path, verbose=False, allow_non_finite=False):
    import keras
    import tensorflow as tf

    archive = keras.export.ExportArchive()
    _track_model(archive, model)
    extras = tf.Module()  # the endpoints' resources (a tokenizer) and assets (its model file)
    extras.resources = [r for ep in endpoints for r in ep.resources]
    for r in extras.resources:
        archive.track(r)
    functions = [_traced_once(ep, allow_non_finite) for ep in endpoints]
    for ep, fn in zip(endpoints, functions):
        _add_endpoint(archive, ep, fn)
    _list_variables(archive, functions)
    assets = {k: v for ep in endpoints for k, v in ep.assets.items()}
    with tempfile.TemporaryDirectory(prefix="zoo-assets-") as folder:
        extras.assets = []
        for file_name, data in sorted(assets.items()):
            with open(os.path.join(folder, file_name), "wb") as f:
                f.write(data)
            extras.assets.append(tf.saved_model.Asset(os.path.join(folder, file_name)))
        if extras.resources:
            archive.track(extras)
        root = getattr(archive, "_tf_trackable", None)  # what Keras' archive saves
        if extras.assets and root is not None:  # under the saved root: the files land in assets/
            root.zoo_assets = extras.assets
        archive.write_out(path, verbose=False)
    if verbose:  # as Keras prints them
        print(f"Saved artifact at '{path}'. The following endpoints are available:\n\n" +
              "\n\n".join(_pretty_signature(ep.name, fn) for ep, fn in zip(endpoints, functions)))
    if assets and root is None:  # a Keras without that root: the files copied, not registered
        os.makedirs(os.path.join(path, "assets"), exist_ok=True)
        for file_name, data in assets.items():
            with open(os.path.join(path, "assets", file_name), "wb") as f:
                f.write(data)


def _traced_once(ep, allow_non_finite):
    """`ep`'s guarded function traced once, as the concrete function the archive saves.
    `tf.saved_model.save` traces every saved `tf.function` again (TensorFlow keys its trace
    cache by the save context) but saves a concrete function as it is: each trace of a
    function calling the model captures every variable again (about 1,500 for a ResNet-152,
    a millisecond each), so saving the concrete function itself, rather than a `tf.function`
    calling it, takes about a fifth off a ResNet-152 export."""
    import tensorflow as tf

    names = [t.name for t in ep.inputs]
    specs = [t.spec() for t in ep.inputs]
    return tf.function(named_function(guarded(ep, allow_non_finite), names),
                       input_signature=specs, autograph=True).get_concrete_function()


def _add_endpoint(archive, ep, concrete):
    """`concrete` saved as the archive's endpoint `ep.name` (and its signature of that name),
    without the `tf.function` around it that `ExportArchive.add_endpoint` needs (which
    `tf.saved_model.save` would trace again); through `add_endpoint` on a Keras whose archive
    keeps its endpoints elsewhere."""
    import tensorflow as tf

    root = getattr(archive, "_tf_trackable", None)
    names = getattr(archive, "_endpoint_names", None)
    signatures = getattr(archive, "_endpoint_signatures", None)
    if root is None or not isinstance(names, list) or not isinstance(signatures, dict):
        inputs = [t.name for t in ep.inputs]
        archive.add_endpoint(ep.name, tf.function(
            named_function(lambda **kw: concrete(**kw), inputs),
            input_signature=[t.spec() for t in ep.inputs], autograph=False))
        return
    if ep.name in names:
        raise ValueError(f"Endpoint name '{ep.name}' is already taken.")
    setattr(root, ep.name, concrete)
    names.append(ep.name)
    signatures[ep.name] = concrete.structured_input_signature  # write_out: the signature is `concrete`


def _pretty_signature(name, concrete):
    lines = concrete.pretty_printed_signature(verbose=True).split("\n")
    return "\n".join([f"* Endpoint '{name}'"] + lines[1:])


def _track_model(archive, model):
    """Track the model's lookup tables (`TrackableResource`s, found in its checkpoint view), not
    the model: `archive.track(model)` would (1) make Keras walk it as a SavedModel does to find
    them, which traces a Keras model's default signature (a whole extra trace of the network),
    and (2) save every weight twice, its Keras variable beside the TensorFlow variable that the
    endpoints use (ResNet-50: 640 checkpoint entries for 320 weights, the variables file twice
    its size). The endpoints' variables are saved once (`_list_variables`)."""
    import tensorflow as tf

    resource = tf.saved_model.experimental.TrackableResource
    for obj in tf.train.TrackableView(model).descendants():
        if isinstance(obj, resource):
            archive.track(obj)


def _list_variables(archive, functions):
    """The reloaded object's `variables`, `trainable_variables` and `non_trainable_variables`
    (as Keras lists a tracked model's): the variables `functions` use, the same objects the
    archive saves, so each is stored once."""
    root = getattr(archive, "_tf_trackable", None)
    if root is None:
        return
    seen, trainable, other = set(), [], []
    for concrete in functions:
        for v in concrete.trainable_variables:
            if id(v) not in seen:
                seen.add(id(v))
                trainable.append(v)
        for v in concrete.variables:
            if id(v) not in seen:
                seen.add(id(v))
                other.append(v)
    root.variables += trainable + other
    root.trainable_variables += trainable
    root.non_trainable_variables += other


def _write_docs(path, name, task, version, endpoints, opts, outputs):
    import keras
    import tensorflow as tf

    extra = os.path.join(path, "assets.extra")
    os.makedirs(extra, exist_ok=True)
    doc = {
        "name": name,
        "version": version,
        "task": task,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "options": _jsonable_opts(dict(opts, outputs=outputs)),
        "signatures": {
            ep.name: {
                "doc": ep.doc,
                "inputs": [dataclasses.asdict(t) for t in ep.inputs],
                "outputs": [{k: v for k, v in dataclasses.asdict(t).items() if k != "sample"}
                            for t in ep.outputs],
            }
            for ep in endpoints
        },
    }
    with open(os.path.join(extra, "signatures.json"), "w") as f:
        json.dump(doc, f, indent=2)
    lines = [f"# {name}, version {version} ({task})", "",
             "SavedModel for TF Serving, written by `zoo.export`.", ""]
    for ep in endpoints:
        lines.append(f"## `{ep.name}`: {ep.doc}")
        for kind, ts in (("input", ep.inputs), ("output", ep.outputs)):
            for t in ts:
                lines.append(f"- {kind} `{t.name}` {t.dtype} {t.shape}: {t.doc}")
        lines.append("")
    with open(os.path.join(extra, "README.md"), "w") as f:
        f.write("\n".join(lines))
    return doc


def _text_proto(text):
    """`text` as the inside of a text-proto string: backslashes, quotes and control characters
    escaped (a folder named `a"b` must not end the string)."""
    out = []
    for c in text:
        if c in '\\"':
            out.append("\\" + c)
        elif ord(c) < 0x20 or ord(c) == 0x7F:
            out.append(f"\\{ord(c):03o}")
        else:
            out.append(c)
    return "".join(out)


def write_model_config(export_dir="saved_models", base_path=None, filename="models.config") -> str:
    """Write TF Serving's `model_config_list` for every model with a version under `export_dir`.

    Args:
        export_dir: the folder of exported models.
        base_path: the folder as the server sees it (e.g. `"/models"` in the tensorflow/serving
            container); `None` uses the absolute path of `export_dir`.

    Returns:
        The path of the file (serve with `--model_config_file=<it>`).
    """
    root = os.path.abspath(export_dir)
    base = base_path.rstrip("/") if base_path else root
    names = sorted(d for d in os.listdir(root) if list_versions(os.path.join(root, d)))
    body = ["model_config_list {"]
    for n in names:
        path = _text_proto(f"{base}/{n}")
        body += ["  config {", f'    name: "{_text_proto(n)}"', f'    base_path: "{path}"',
                 '    model_platform: "tensorflow"', "  }"]
    body.append("}")
    path = os.path.join(root, filename)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(body) + "\n")
    os.replace(tmp, path)
    return path
