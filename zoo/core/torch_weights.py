"""Read (and write) PyTorch state dicts in torch's zip format, without PyTorch and without
unpickling anything but tensors and ordered dictionaries.

`torch.save(state_dict, path)` writes a zip archive holding `<name>/data.pkl` (a pickle whose
tensors are `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)` calls, the
storages being persistent ids `("storage", torch.FloatStorage, key, location, numel)`) and one
raw little-endian file `<name>/data/<key>` per storage. `read_state_dict` reads that with a
`pickle.Unpickler` whose `find_class` allows only `collections.OrderedDict`,
`torch._utils._rebuild_tensor_v2`, `torch._utils._rebuild_parameter` and the `torch.*Storage`
types below, and refuses every other global (`UnsafeTorchFileError`, naming it): a file that
tries to call `os.system` (or anything else) is refused before anything runs.

`write_state_dict` writes the same format (protocol-2 opcodes written by hand, no PyTorch), so
tests can build torchvision-layout files; files written by `torch.save` read the same way.
"""

from __future__ import annotations

import collections
import io
import pickle
import struct
import zipfile
from typing import Dict, Mapping

import numpy as np

__all__ = ["UnsafeTorchFileError", "read_state_dict", "write_state_dict"]

# torch storage type name -> NumPy dtype (little-endian, as torch writes them).
STORAGE_DTYPES = {
    "FloatStorage": "<f4",
    "DoubleStorage": "<f8",
    "HalfStorage": "<f2",
    "LongStorage": "<i8",
    "IntStorage": "<i4",
    "ShortStorage": "<i2",
    "CharStorage": "i1",
    "ByteStorage": "u1",
    "BoolStorage": "?",
}


class UnsafeTorchFileError(pickle.UnpicklingError):
    """A torch file's pickle refers to a global other than tensors and ordered dictionaries."""


class _StorageType:
    def __init__(self, name):
        self.name = name
        self.dtype = np.dtype(STORAGE_DTYPES[name])


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False,
                       backward_hooks=None, metadata=None):
    size, stride = tuple(size), tuple(stride)
    if not size:
        return np.array(storage[storage_offset])
    item = storage.itemsize
    view = np.lib.stride_tricks.as_strided(
        storage[storage_offset:], shape=size, strides=tuple(s * item for s in stride))
    return np.array(view)  # a contiguous copy


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None):
    return data


_ALLOWED = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
}


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, archive, prefix):
        super().__init__(file)
        self._archive, self._prefix, self._storages = archive, prefix, {}

    def find_class(self, module, name):
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name)
        raise UnsafeTorchFileError(
            f"Refusing to load the global {module}.{name} from a torch file: only tensors and "
            "ordered dictionaries (collections.OrderedDict, torch._utils._rebuild_tensor_v2, "
            "torch._utils._rebuild_parameter, torch.*Storage) are allowed."
        )

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"
                and isinstance(pid[1], _StorageType)):
            raise UnsafeTorchFileError(f"Unexpected persistent id in a torch file: {pid!r}")
        _, stype, key, _location, numel = pid
        if key not in self._storages:
            raw = self._archive.read(f"{self._prefix}/data/{key}")
            arr = np.frombuffer(raw, dtype=stype.dtype)
            if arr.size < numel:
                raise pickle.UnpicklingError(f"Storage {key} holds {arr.size} < {numel} items.")
            self._storages[key] = arr
        return self._storages[key]


def read_state_dict(path) -> Dict[str, np.ndarray]:
    """The tensors of a `torch.save`d state dict (zip format) as NumPy arrays, by name.

    Args:
        path: a `.pth`/`.pt` file written by `torch.save` (PyTorch >= 1.6 zip format).

    Returns:
        An ordered `{name: np.ndarray}` in the file's order.

    Raises:
        UnsafeTorchFileError: the pickle refers to any other global (e.g. `os.system`).
        ValueError: not a torch zip file, or not a dictionary of tensors.

    Example:
        >>> import numpy as np
        >>> from zoo.core.torch_weights import read_state_dict, write_state_dict
        >>> write_state_dict("/tmp/t.pth", {"w": np.arange(6, dtype="float32").reshape(2, 3)})
        >>> read_state_dict("/tmp/t.pth")["w"].tolist()
        [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    """
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not a torch zip file (torch.save's format since 1.6).")
    with zipfile.ZipFile(path) as archive:
        pkls = [n for n in archive.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pkls) != 1:
            raise ValueError(f"{path} has no single '<name>/data.pkl' entry: {archive.namelist()}")
        prefix = pkls[0].split("/")[0]
        obj = _Unpickler(io.BytesIO(archive.read(pkls[0])), archive, prefix).load()
    if not isinstance(obj, dict) or not all(isinstance(v, np.ndarray) for v in obj.values()):
        raise ValueError(f"{path} does not hold a dictionary of tensors.")
    return collections.OrderedDict(obj)


# ---------------------------------------------------------------------------------------------
# Writing (protocol 2, opcodes by hand, so that no torch module needs to be importable)
# ---------------------------------------------------------------------------------------------

_NAMES = {v: k for k, v in STORAGE_DTYPES.items()}


def _str(s):
    b = s.encode("utf-8")
    return b"X" + struct.pack("<I", len(b)) + b


def _int(i):
    return b"J" + struct.pack("<i", i)


def _tuple(items):
    return b"(" + b"".join(items) + b"t"


def _global(module, name):
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def _ordered_dict():
    return _global("collections", "OrderedDict") + b")R"


def write_state_dict(path, state: Mapping[str, np.ndarray], archive_name: str = "archive"):
    """Write `{name: array}` as `torch.save` would (zip format), readable by `torch.load`."""
    body, files = [b"\x80\x02", _ordered_dict(), b"("], {}
    for key, (name, value) in enumerate(state.items()):
        arr = np.array(value, order="C")
        dtype = arr.dtype.newbyteorder("<") if arr.dtype.itemsize > 1 else arr.dtype
        stype = _NAMES.get(dtype.str) or _NAMES[np.dtype(dtype).str.replace("|", "")]
        files[str(key)] = arr.astype(dtype).tobytes()
        pid = _tuple([_str("storage"), _global("torch", stype), _str(str(key)), _str("cpu"),
                      _int(arr.size)])
        stride = [int(np.prod(arr.shape[i + 1:])) for i in range(arr.ndim)]
        tensor = (_global("torch._utils", "_rebuild_tensor_v2")
                  + _tuple([pid + b"Q", _int(0), _tuple([_int(d) for d in arr.shape]),
                            _tuple([_int(s) for s in stride]), b"\x89", _ordered_dict()])
                  + b"R")
        body += [_str(name), tensor]
    body += [b"u."]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr(f"{archive_name}/data.pkl", b"".join(body))
        z.writestr(f"{archive_name}/byteorder", "little")
        for key, raw in files.items():
            z.writestr(f"{archive_name}/data/{key}", raw)
        z.writestr(f"{archive_name}/version", "3\n")
