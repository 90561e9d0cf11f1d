"""Read (and write) PyTorch state dicts in torch's zip format, without PyTorch and without
unpickling anything but tensors and ordered dictionaries.

`torch.save(state_dict, path)` writes a zip archive holding `<name>/data.pkl` (a pickle whose
tensors are `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)` calls, the
storages being persistent ids `("storage", torch.FloatStorage, key, location, numel)`) and one
raw little-endian file `<name>/data/<key>` per storage. `read_state_dict` reads that with a
`pickle.Unpickler` whose `find_class` allows only `collections.OrderedDict`,
`torch._utils._rebuild_tensor_v2`, `torch._utils._rebuild_parameter` and the `torch.*Storage`
types below, and refuses every other global (`UnsafeTorchFileError`, naming it): a file that
tries to call `os.system` (or anything else) is refused before anything runs. Every tensor's
sizes, strides and storage offset are checked against its storage's length before any element is
read (`DamagedTorchFileError` otherwise): a crafted file cannot read outside its storages.

`write_state_dict` writes the same format (protocol-2 opcodes written by hand, no PyTorch), so
tests can build torchvision-layout files; files written by `torch.save` read the same way.
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import struct
import zipfile
import zlib
from typing import Dict, Mapping

import numpy as np

__all__ = ["DamagedTorchFileError", "UnsafeTorchFileError", "read_state_dict", "write_state_dict"]

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


class UnsafeTorchFileError(pickle.UnpicklingError, ValueError):
    """A torch file's pickle refers to a global other than tensors and ordered dictionaries."""


class DamagedTorchFileError(pickle.UnpicklingError, ValueError):
    """A torch file that is not a readable state dict: a tensor reaching outside its storage,
    an unknown storage type, a truncated or malformed pickle or archive."""


class _StorageType:
    def __init__(self, name):
        self.name = name
        self.dtype = np.dtype(STORAGE_DTYPES[name])


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _check_view(storage, offset, size, stride):
    """Refuse a tensor whose elements are not all inside `storage` (checked with Python's
    unbounded integers, so nothing overflows), before any element is read."""
    if not isinstance(storage, np.ndarray) or storage.ndim != 1:
        raise DamagedTorchFileError(f"A tensor's storage is not a storage: {type(storage).__name__}.")
    if not (isinstance(size, tuple) and isinstance(stride, tuple) and len(size) == len(stride)
            and all(_is_int(v) for v in size + stride) and _is_int(offset)):
        raise DamagedTorchFileError(
            f"A tensor's size {size!r} and stride {stride!r} must be tuples of integers of one "
            f"length, its storage offset an integer ({offset!r}).")
    bad = [v for v in size + stride if v < 0]
    if offset < 0 or bad:
        raise DamagedTorchFileError(
            f"A tensor has a negative size, stride or storage offset (size {size}, stride "
            f"{stride}, offset {offset}).")
    count = int(np.prod(size, dtype=object)) if size else 1
    if count == 0:
        return 0
    last = offset + sum((n - 1) * s for n, s in zip(size, stride))
    if last >= storage.size:
        raise DamagedTorchFileError(
            f"A tensor (size {size}, stride {stride}, offset {offset}) reaches element {last} of "
            f"a storage of {storage.size} elements.")
    if count > storage.size:
        raise DamagedTorchFileError(
            f"A tensor (size {size}, stride {stride}) has {count} elements, more than its "
            f"storage's {storage.size}: a state dict's tensors do not repeat their storage.")
    return count


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False,
                       backward_hooks=None, metadata=None):
    size, stride = tuple(size), tuple(stride)
    if not _check_view(storage, storage_offset, size, stride):
        return np.zeros(size, storage.dtype)
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
        if module == "torch" and name.endswith("Storage"):
            raise DamagedTorchFileError(
                f"The storage type torch.{name} is not supported; supported: "
                f"{', '.join(STORAGE_DTYPES)}.")
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
        if not isinstance(key, str) or not _is_int(numel) or numel < 0:
            raise DamagedTorchFileError(f"Malformed storage id in a torch file: {pid!r}")
        if key not in self._storages:
            try:
                raw = self._archive.read(f"{self._prefix}/data/{key}")
            except KeyError:
                raise DamagedTorchFileError(f"The storage {key!r} is missing from the archive.") from None
            if len(raw) < numel * stype.dtype.itemsize:
                raise DamagedTorchFileError(
                    f"Storage {key} holds {len(raw)} bytes, fewer than its {numel} "
                    f"{stype.name} elements need ({numel * stype.dtype.itemsize}).")
            self._storages[key] = (stype, np.frombuffer(raw, dtype=stype.dtype, count=numel))
        if self._storages[key][0].name != stype.name:
            raise DamagedTorchFileError(f"The storage {key!r} is given two types: "
                                        f"{self._storages[key][0].name} and {stype.name}.")
        return self._storages[key][1]


def read_state_dict(path) -> Dict[str, np.ndarray]:
    """The tensors of a `torch.save`d state dict (zip format) as NumPy arrays, by name.

    Args:
        path: a `.pth`/`.pt` file written by `torch.save` (PyTorch >= 1.6 zip format).

    Returns:
        An ordered `{name: np.ndarray}` in the file's order.

    Raises:
        UnsafeTorchFileError: the pickle refers to any other global (e.g. `os.system`).
        DamagedTorchFileError: a tensor reaching outside its storage (sizes, strides and offsets
            are checked before any read), an unknown storage type, a damaged pickle or archive.
        ValueError: not a torch zip file, or not a dictionary of tensors (both errors above
            are ValueErrors too, naming the file).

    Example:
        >>> import numpy as np
        >>> from zoo.core.torch_weights import read_state_dict, write_state_dict
        >>> write_state_dict("/tmp/t.pth", {"w": np.arange(6, dtype="float32").reshape(2, 3)})
        >>> read_state_dict("/tmp/t.pth")["w"].tolist()
        [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    """
    if not os.path.isfile(path) or not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not a torch zip file (torch.save's format since 1.6).")
    try:
        with zipfile.ZipFile(path) as archive:
            pkls = [n for n in archive.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
            if len(pkls) != 1:
                raise DamagedTorchFileError(f"No single '<name>/data.pkl' entry among "
                                            f"{archive.namelist()[:10]}.")
            prefix = pkls[0].split("/")[0]
            obj = _Unpickler(io.BytesIO(archive.read(pkls[0])), archive, prefix).load()
    except (UnsafeTorchFileError, DamagedTorchFileError) as e:
        raise type(e)(f"{path}: {e} Nothing was loaded.") from None
    except (ValueError, pickle.UnpicklingError, EOFError, zipfile.BadZipFile, zlib.error, OSError, KeyError,
            IndexError, TypeError, AttributeError, MemoryError, OverflowError) as e:
        raise DamagedTorchFileError(f"{path} is a damaged torch file ({type(e).__name__}: "
                                    f"{str(e)[:200]}). Nothing was loaded.") from None
    if not isinstance(obj, dict) or not all(isinstance(k, str) and isinstance(v, np.ndarray)
                                            for k, v in obj.items()):
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
