"""Encoded images (issue 28): every image export with a fixed input size has an `image_bytes`
signature taking a batch of JPEG / PNG / GIF / BMP strings of any sizes, each decoded and resized on
its own; a string that is not an image is refused with INVALID_ARGUMENT naming the input."""

import numpy as np
import pytest


def _pil(image, fmt):
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format=fmt)
    return buf.getvalue()


@pytest.mark.slow
def test_image_bytes_signature_decodes_each_format_and_size_and_refuses_other_strings(tmp_path):
    import keras
    import tensorflow as tf

    from zoo.export import export_model, verify
    from zoo.export.warmup import read_warmup_requests

    inp = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3)(inp)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inp, keras.layers.Dense(3, activation="softmax")(x))
    path = export_model(model, "tiny", export_dir=str(tmp_path), task="image_classification",
                        preprocessing="symmetric")
    loaded = tf.saved_model.load(str(path))
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
              for h, w in ((8, 8), (13, 9), (6, 20), (8, 8))]
    encoded = [tf.io.encode_png(images[0]), tf.io.encode_jpeg(images[1], quality=100),
               _pil(images[2], "GIF"), _pil(images[3], "BMP")]
    got = loaded.signatures["image_bytes"](image_bytes=tf.stack(encoded))
    # the same as the uint8 signature on each decoded image, resized on its own
    decoded = [tf.io.decode_image(e, channels=3, expand_animations=False) for e in encoded]
    for i, img in enumerate(decoded):
        want = loaded.signatures["serving_default"](images=img[None])
        np.testing.assert_allclose(got["probabilities"][i:i + 1], want["probabilities"],
                                   atol=1e-5)
    assert got["probabilities"].shape == (4, 3)
    with pytest.raises(tf.errors.InvalidArgumentError, match="`image_bytes` must hold JPEG, PNG"):
        loaded.signatures["image_bytes"](image_bytes=tf.constant([encoded[0].numpy(), b"hello"]))
    # warm-up records cover it; verified in the process without zoo
    assert "image_bytes" in [sig for sig, _ in read_warmup_requests(str(path))]
    report = verify(str(path), keras_model=model)
    assert report["ok"], report["problems"]
