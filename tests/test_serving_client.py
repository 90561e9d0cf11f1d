"""A client's view of serving (issue 28): `zoo export --model-base-path` writes models.config for
where the server sees the export folder, so docs/serving.md's docker command works as written."""

import re

import pytest


def test_zoo_export_model_base_path_writes_the_servers_paths(tmp_path, capsys):
    from zoo import cli

    rc = cli.main(["export", "highway_net", "--set", "depth=2", "--export-dir",
                   str(tmp_path / "saved_models"), "--model-base-path", "/models/"])
    assert rc == 0, capsys.readouterr().err
    config = (tmp_path / "saved_models" / "models.config").read_text()
    assert re.findall(r'base_path: "([^"]+)"', config) == ["/models/highway_net"]
    assert str(tmp_path) not in config


# The requests of docs/serving.md ("A client's view"), built here exactly as the page shows them
# and run through the exported signatures as TF Serving decodes them (REST: `{"b64": ...}` for
# strings, "instances" row by row or "inputs" by name; gRPC: a PredictRequest's TensorProtos).

def _rest_feeds(body):
    """The tensors TF Serving's REST API makes of a predict body (row or columnar format)."""
    import base64

    import numpy as np

    def value(v):
        if isinstance(v, dict) and set(v) == {"b64"}:
            return base64.b64decode(v["b64"])
        return [value(x) for x in v] if isinstance(v, list) else v

    if "instances" in body:
        rows = body["instances"]
        if all(isinstance(r, dict) and "b64" not in r for r in rows):
            return {k: np.array([value(r[k]) for r in rows]) for k in rows[0]}
        return {None: np.array([value(r) for r in rows], dtype=object)}
    return {k: np.array(value(v)) for k, v in body["inputs"].items()}


def _run_rest(loaded, body):
    import tensorflow as tf

    fn = loaded.signatures[body.get("signature_name", "serving_default")]
    feeds = _rest_feeds(body)
    if None in feeds:  # one unnamed input per instance: the signature's only input
        (name,) = fn.structured_input_signature[1]
        feeds = {name: feeds.pop(None)}
    specs = fn.structured_input_signature[1]
    return fn(**{k: tf.constant(v, dtype=specs[k].dtype) for k, v in feeds.items()})


def _run_grpc(loaded, request):
    import tensorflow as tf

    fn = loaded.signatures[request.model_spec.signature_name or "serving_default"]
    return fn(**{k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()})


def _png(seed, h, w):
    import numpy as np

    from zoo.roles.image_bytes import png_bytes

    return png_bytes(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))


@pytest.mark.slow
def test_rest_and_grpc_requests_of_the_docs_run_through_image_text_and_forecast_exports(tmp_path):
    import base64

    import grpc
    import keras
    import numpy as np
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    from zoo.core.registry import create_model
    from zoo.export import export_model
    from zoo.roles.class_names import set_class_names

    inp = keras.Input((8, 8, 3))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(inp))
    image_model = set_class_names(keras.Model(inp, keras.layers.Dense(3, activation="softmax")(x)),
                                  ["cat", "dog", "fox"])
    exports = {
        "photos": export_model(image_model, "photos", export_dir=str(tmp_path),
                               task="image_classification", preprocessing="symmetric"),
        "reviews": export_model(
            set_class_names(create_model("lstm_classifier", vocabulary_size=30, classes=2, units=4),
                            ["negative", "positive"]),
            "reviews", export_dir=str(tmp_path), task="sequence_classification"),
        "sales": export_model(create_model("da_rnn", num_drivers=4, window=5, encoder_units=6,
                                           decoder_units=5),
                              "sales", export_dir=str(tmp_path), task="forecasting"),
    }
    loaded = {k: tf.saved_model.load(str(v)) for k, v in exports.items()}
    cat_jpg = tf.io.encode_jpeg(np.full((20, 14, 3), 90, np.uint8)).numpy()
    dog_png = _png(1, 9, 31)

    # --- REST (docs/serving.md: curl -d BODY http://localhost:8501/v1/models/NAME:predict)
    image_body = {"signature_name": "image_bytes",
                  "instances": [{"b64": base64.b64encode(cat_jpg).decode()},
                                {"b64": base64.b64encode(dog_png).decode()}]}
    text_body = {"inputs": {"tokens": [[5, 12, 7, 0], [9, 3, 0, 0]], "lengths": [3, 2]}}
    forecast_body = {"inputs": {"drivers": [[[0.1, 0.2, 0.3, 0.4]] * 5],
                                "history": [[1.0, 1.1, 1.2, 1.3]]}}
    image = _run_rest(loaded["photos"], image_body)
    assert image["classes"].shape == (2, 3)
    assert set(image["classes"].numpy().astype(str).ravel()) == {"cat", "dog", "fox"}
    text = _run_rest(loaded["reviews"], text_body)
    np.testing.assert_array_equal(text["classes"].numpy().astype(str),
                                  np.array(["negative", "positive"])[text["top_k_indices"]])
    forecast = _run_rest(loaded["sales"], forecast_body)
    assert forecast["forecast"].shape == (1, 1)

    # --- gRPC (docs/serving.md: PredictionServiceStub on localhost:8500)
    stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel("localhost:8500"))
    assert hasattr(stub, "Predict")  # the client the page uses (no server in the tests)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "photos"
    request.model_spec.signature_name = "image_bytes"
    request.inputs["image_bytes"].CopyFrom(tf.make_tensor_proto([cat_jpg, dog_png]))
    np.testing.assert_allclose(_run_grpc(loaded["photos"], request)["probabilities"],
                               image["probabilities"], atol=1e-6)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "reviews"
    request.inputs["tokens"].CopyFrom(tf.make_tensor_proto([[5, 12, 7, 0], [9, 3, 0, 0]],
                                                           dtype=tf.int32))
    request.inputs["lengths"].CopyFrom(tf.make_tensor_proto([3, 2], dtype=tf.int32))
    np.testing.assert_allclose(_run_grpc(loaded["reviews"], request)["probabilities"],
                               text["probabilities"], atol=1e-6)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "sales"
    request.inputs["drivers"].CopyFrom(tf.make_tensor_proto([[[0.1, 0.2, 0.3, 0.4]] * 5],
                                                            dtype=tf.float32))
    request.inputs["history"].CopyFrom(tf.make_tensor_proto([[1.0, 1.1, 1.2, 1.3]],
                                                            dtype=tf.float32))
    np.testing.assert_allclose(_run_grpc(loaded["sales"], request)["forecast"],
                               forecast["forecast"], atol=1e-6)
