"""Write tests/data/googlenet_torchvision/: a state dict saved by real torchvision and
torchvision's own outputs on a fixed input, for tests/test_googlenet_torch.py (issue 30).

Run once, by hand, in a scratch environment with PyTorch (not a zoo dependency); the tests need
neither PyTorch nor this script:

    python3 -m venv /tmp/tv && /tmp/tv/bin/pip install torch==2.14.1 torchvision==0.29.1
    /tmp/tv/bin/python tools/make_torchvision_googlenet_fixture.py

Written with torch 2.14.1+cu130 and torchvision 0.29.1+cu130 on the CPU (the versions are also
stored in `outputs.npz`).

The model is `torchvision.models.googlenet(num_classes=10, aux_logits=True,
transform_input=False)`: every entry of its state dict, with torchvision's names, shapes and
layouts (9,960,638 parameters, auxiliary heads included). To keep the committed file small its
weights are sparse and few-valued (5% non-zero, each +-1 or +-2 times a power of two scaled to
the fan-in; gamma and beta on a 1/16 grid), set in place on torchvision's modules; the batch-norm
statistics are calibrated on random images (cumulative averages, as
benchmarks/googlenet_torchvision.py does), so activations are of order 1 through all 22 layers.
`torch.save(model.state_dict())`'s bytes are stored xz-compressed (`state_dict.pth.xz`, the bytes
unchanged after decompression).

`outputs.npz` holds the input (`image`, uint8, 2x112x112x3: at 112 every max pool rounds up, and
the auxiliary heads pool 7x7 to 4x4 with overlapping windows; torchvision was given
image / 127.5 - 1 in float32, NCHW) and torchvision's eval-mode outputs: `logits` (the main head), `aux1` and
`aux2` (`model.aux1` / `model.aux2` on the outputs of inception4a / inception4d, as in training).
"""

import io
import lzma
import os
import sys

import numpy as np
import torch
import torchvision

OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "data",
                   "googlenet_torchvision")
SIDE = 112
DENSITY = 0.05


def _sparse_(param, generator):
    """In place: 5% of entries +-1 or +-2 times a power of two near 1 / sqrt(fan-in)."""
    fan_in = int(np.prod(param.shape[1:]))
    scale = 2.0 ** np.round(np.log2(1.0 / np.sqrt(DENSITY * fan_in * 2.5)))
    keep = torch.rand(param.shape, generator=generator) < DENSITY
    value = torch.randint(1, 3, param.shape, generator=generator).float()
    sign = torch.randint(0, 2, param.shape, generator=generator).float() * 2 - 1
    param.copy_(keep * value * sign * scale)


def _grid_(param, generator, low, high):
    """In place: uniform on [low, high] rounded to a 1/16 grid."""
    u = torch.rand(param.shape, generator=generator) * (high - low) + low
    param.copy_(torch.round(u * 16) / 16)


def main():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    model = torchvision.models.googlenet(weights=None, num_classes=10, aux_logits=True,
                                         transform_input=False, init_weights=False)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
                _sparse_(module.weight, gen)
                if module.bias is not None:
                    _grid_(module.bias, gen, -0.25, 0.25)
            elif isinstance(module, torch.nn.BatchNorm2d):
                _grid_(module.weight, gen, 0.5, 1.5)
                _grid_(module.bias, gen, -0.25, 0.25)
                module.reset_running_stats()
                module.momentum = None  # a cumulative average over the calibration batches
        model.train()
        for _ in range(4):
            model(torch.rand(8, 3, SIDE, SIDE, generator=gen) * 2 - 1)
    model.eval()
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (2, SIDE, SIDE, 3), dtype=np.uint8)
    x = (image.astype("float32") / np.float32(127.5) - np.float32(1.0)).astype("float32")
    seen = {}
    hooks = [getattr(model, n).register_forward_hook(
        lambda _m, _i, out, n=n: seen.__setitem__(n, out)) for n in ("inception4a", "inception4d")]
    with torch.no_grad():
        logits = model(torch.from_numpy(x.transpose(0, 3, 1, 2).copy()))
        aux1, aux2 = model.aux1(seen["inception4a"]), model.aux2(seen["inception4d"])
    for h in hooks:
        h.remove()
    os.makedirs(OUT, exist_ok=True)
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    with open(os.path.join(OUT, "state_dict.pth.xz"), "wb") as f:
        f.write(lzma.compress(buf.getvalue(), preset=9 | lzma.PRESET_EXTREME))
    np.savez_compressed(
        os.path.join(OUT, "outputs.npz"), image=image, logits=logits.numpy(),
        aux1=aux1.numpy(), aux2=aux2.numpy(), torch_version=np.array(torch.__version__),
        torchvision_version=np.array(torchvision.__version__),
        script=np.array("tools/make_torchvision_googlenet_fixture.py"))
    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, "
          f"{len(buf.getvalue()):,} bytes saved, "
          f"{os.path.getsize(os.path.join(OUT, 'state_dict.pth.xz')):,} compressed; "
          f"logit scale {float(logits.abs().max()):.2f}, aux {float(aux1.abs().max()):.2f} "
          f"{float(aux2.abs().max()):.2f}", file=sys.stderr)


if __name__ == "__main__":
    main()
