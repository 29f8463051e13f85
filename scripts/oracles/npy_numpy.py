#!/usr/bin/python3
""".npy decoding oracle: numpy.

Writes .npy files with numpy itself (np.save and np.lib.format.write_array) into tests/data/volumes/numpy/: every
supported dtype in both byte orders, C and Fortran order, format versions 1.0, 2.0 and 3.0, shapes (D, H, W) and
(1, D, H, W), values that stress the float32 conversion (64-bit integers beyond 2**53, float16 subnormals, NaN-free
extremes), and files numpy writes that a volume reader must refuse (structured, object, complex, string dtypes,
channels-last). expected.json records, for each readable file, the array numpy loads converted to float32 as
`np.load(f).astype(np.float32)` (squeezed to (D, H, W)), and for each refused file the start of the message.

Run with Debian's python3-numpy (1.24) from the repository root:
    /usr/bin/python3 scripts/oracles/npy_numpy.py
The output is deterministic (fixed seeds); the test NpyNumpyParityTests reads it.
"""
import json
import os
import shutil

import numpy as np

OUT = os.path.join("tests", "data", "volumes", "numpy")


def sample(rng, dtype, shape):
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return rng.integers(0, 2, size=shape).astype(dt)
    if dt.kind in "ui":
        info = np.iinfo(dt)
        a = rng.integers(info.min, info.max, size=shape, dtype=dt.newbyteorder("="), endpoint=True)
        flat = a.reshape(-1)
        flat[0] = info.min
        flat[1] = info.max
        if dt.itemsize == 8:
            flat[2] = (1 << 53) + 1 if dt.kind == "i" else (1 << 63) + 12345
            # Just above half a float32 step: rounded once it goes up, rounded through float64 first it ties to even.
            flat[3] = (1 << 60) + (1 << 36) + 1
            flat[4] = -((1 << 60) + (1 << 36) + 1) if dt.kind == "i" else (1 << 63) + (1 << 39) + 1
        return a.astype(dt)
    a = rng.normal(0, 1000, size=shape).astype(dt.newbyteorder("="))
    flat = a.reshape(-1)
    flat[0] = np.finfo(dt).max if dt.itemsize <= 4 else 3.0e38  # float64 beyond float32's range would be inf
    flat[1] = np.finfo(dt).tiny
    flat[2] = -0.0
    if dt.itemsize == 2:
        flat[3] = np.float16(6e-8)  # a float16 subnormal
    return a.astype(dt)


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    rng = np.random.default_rng(11)
    cases = []

    def add(name, array, version=None):
        path = os.path.join(OUT, name)
        with open(path, "wb") as f:
            np.lib.format.write_array(f, array, version=version, allow_pickle=False)
        loaded = np.load(path)
        squeezed = loaded.reshape(loaded.shape[-3:])
        cases.append({
            "file": name,
            "shape": list(squeezed.shape),
            "values": [float(v) for v in squeezed.astype(np.float32).ravel(order="C")],
        })

    for code in ["b1", "u1", "i1", "i2", "u2", "i4", "u4", "i8", "u8", "f2", "f4", "f8"]:
        orders = ["|"] if code in ("b1", "u1", "i1") else ["<", ">"]
        for order in orders:
            dtype = order + code if order != "|" else code
            a = sample(rng, dtype, (3, 4, 5))
            tag = {"<": "le", ">": "be", "|": "na"}[order]
            add(f"dtype-{code}-{tag}.npy", a)
            add(f"dtype-{code}-{tag}-fortran.npy", np.asfortranarray(a))
    base = sample(rng, "<f4", (1, 3, 4, 5))
    add("shape-1xDxHxW.npy", base)
    add("shape-1xDxHxW-fortran.npy", np.asfortranarray(base))
    add("shape-DxHxW-single-slice.npy", sample(rng, "<f4", (1, 7, 6)))
    add("shape-DxHxW-transposed.npy", sample(rng, "<i2", (5, 4, 3)).transpose(2, 1, 0))
    for version in [(1, 0), (2, 0), (3, 0)]:
        add(f"version-{version[0]}.0.npy", sample(rng, "<f4", (2, 3, 4)), version=version)
    add("m3d-like-1x8x32x32.npy", rng.uniform(0, 1, size=(1, 8, 32, 32)).astype("<f4"))

    refused = []

    def refuse(name, array, message, allow_pickle=False):
        with open(os.path.join(OUT, name), "wb") as f:
            np.lib.format.write_array(f, array, allow_pickle=allow_pickle)
        refused.append({"file": name, "message": message})

    refuse("structured.npy", np.zeros((3, 4, 5), dtype=[("hu", "<i2"), ("mask", "u1")]), "structured dtype [(")
    refuse("object.npy", np.array([[[None, 1], [2, 3]]], dtype=object), "unsupported .npy dtype '|O', an object array",
           allow_pickle=True)
    refuse("complex.npy", np.zeros((3, 4, 5), dtype="<c8"), "unsupported .npy dtype '<c8', a complex dtype")
    refuse("unicode.npy", np.full((2, 2, 2), "ab"), "unsupported .npy dtype '<U2', a string dtype")
    refuse("channels-last.npy", np.zeros((5, 32, 32, 1), dtype="<f4"), "shape (5, 32, 32, 1) is channels-last")
    refuse("two-channels.npy", np.zeros((2, 3, 4, 5), dtype="<f4"), "shape (2, 3, 4, 5) has 2 channels")
    refuse("2d.npy", np.zeros((32, 32), dtype="<f4"), "shape (32, 32) is not (D, H, W) or (1, D, H, W)")

    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump({"oracle": f"numpy {np.__version__}", "cases": cases, "refused": refused}, f, indent=0)
    print(f"{len(cases)} readable and {len(refused)} refused files in {OUT}")


if __name__ == "__main__":
    main()
