"""Logit differences between torchvision's GoogLeNet and `googlenet_torchvision` with the same
weights (issue 17), at 224, 225 and 299. Needs PyTorch + torchvision (not a zoo dependency):

    pip install --target /tmp/torchref torch torchvision
    TORCH_PATH=/tmp/torchref PYTHONPATH=$PWD python benchmarks/googlenet_torchvision.py

torchvision's model gets random weights with batch-norm statistics calibrated on random images
(so activations are of order 1), is saved with `torch.save(state_dict)` and loaded here through
`weights=<file.pth>` (zoo's own PyTorch-free reader and converter).
"""

import os
import sys
import tempfile

sys.path.append(os.environ.get("TORCH_PATH", "/tmp/torchref"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torchvision  # noqa: E402

from zoo.models.googlenet import googlenet_torchvision  # noqa: E402


def main():
    torch.manual_seed(0)
    tv = torchvision.models.googlenet(weights=None, aux_logits=True, transform_input=False,
                                      init_weights=True)
    for m in tv.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None  # cumulative average over the calibration batches
    tv.train()
    with torch.no_grad():
        for _ in range(4):
            tv(torch.randn(8, 3, 224, 224))
    tv.eval()
    path = os.path.join(tempfile.mkdtemp(), "googlenet_random.pth")
    torch.save(tv.state_dict(), path)
    rng = np.random.default_rng(0)
    for side in (224, 225, 299):
        x = rng.standard_normal((2, side, side, 3)).astype("float32")
        ours = googlenet_torchvision(weights=path, input_shape=(side, side, 3),
                                     classifier_activation=None)
        with torch.no_grad():
            ref = tv(torch.from_numpy(x.transpose(0, 3, 1, 2))).numpy()
        got = np.asarray(ours(x, training=False))
        diff = np.abs(got - ref).max()
        same_top1 = bool((got.argmax(-1) == ref.argmax(-1)).all())
        print(f"{side}: max |logit diff| {diff:.2e} (logit scale {np.abs(ref).max():.2f}), "
              f"same top-1: {same_top1}")


if __name__ == "__main__":
    main()
