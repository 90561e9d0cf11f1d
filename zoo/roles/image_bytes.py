"""Encoded images in, for TF Serving's REST clients (`{"b64": ...}`): a batch of JPEG / PNG / GIF /
BMP strings, each decoded and resized on its own inside the graph (`decode_images`), and
`png_bytes`, the pure-NumPy encoder of the signatures' sample inputs (warm-up requests,
`zoo verify`) (docs/serving.md).

Example:
    >>> import numpy as np, tensorflow as tf
    >>> from zoo.roles.image_bytes import decode_images, png_bytes
    >>> batch = tf.constant([png_bytes(np.zeros((5, 7, 3), np.uint8)),
    ...                      png_bytes(np.zeros((9, 4, 3), np.uint8))])
    >>> decode_images(batch, (8, 8), 3).shape
    TensorShape([2, 8, 8, 3])
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

__all__ = ["IMAGE_FORMATS", "decode_images", "png_bytes", "encoded_samples"]

IMAGE_FORMATS = ("JPEG", "PNG", "GIF", "BMP")

# the first bytes of each format tf.io.decode_image reads
_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF8", b"BM")


def decode_images(image_bytes, size, channels, method="bilinear", name="image_bytes"):
    """float32 pixels [N, size[0], size[1], channels] (0..255) of a string batch [N] of encoded
    images; a string that is not a JPEG, PNG, GIF or BMP image fails with INVALID_ARGUMENT
    naming `name`."""
    import tensorflow as tf

    h, w = int(size[0]), int(size[1])

    def one(data):
        known = tf.reduce_any(tf.stack([
            tf.equal(tf.strings.substr(data, 0, len(m)), m) for m in _MAGIC]))
        check = tf.debugging.Assert(known, [
            f"`{name}` must hold JPEG, PNG, GIF or BMP images; one string is none of them "
            "(first bytes:", tf.strings.substr(data, 0, 8), ")"], summarize=1)
        with tf.control_dependencies([check]):
            image = tf.io.decode_image(data, channels=channels, expand_animations=False)
        image = tf.ensure_shape(image, [None, None, channels])
        return tf.image.resize(tf.cast(image, tf.float32), (h, w), method=method)

    return tf.map_fn(one, tf.reshape(image_bytes, [-1]),
                     fn_output_signature=tf.TensorSpec([h, w, channels], tf.float32))


def png_bytes(image) -> bytes:
    """A PNG file of a uint8 image [H, W] or [H, W, C] (C in 1..4), without TensorFlow."""
    image = np.asarray(image, np.uint8)
    if image.ndim == 2:
        image = image[..., None]
    h, w, c = image.shape
    color = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    raw = b"".join(b"\x00" + image[y].tobytes() for y in range(h))

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", w, h, 8, color, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b""))


def encoded_samples(sizes, channels, seed=0) -> np.ndarray:
    """A batch of PNG strings of random images of `sizes` ([[H, W], ...]), as a NumPy bytes
    array (`np.savez` keeps it without pickling; every PNG ends in a non-zero byte, so none is
    cut)."""
    rng = np.random.default_rng(seed)
    return np.array([png_bytes(rng.integers(0, 256, (h, w, channels), dtype=np.uint8))
                     for h, w in sizes], dtype=bytes)
