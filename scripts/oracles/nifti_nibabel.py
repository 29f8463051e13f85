#!/usr/bin/python3
"""NIfTI orientation and decoding oracle: nibabel.

Writes small NIfTI-1/2 files that cover every axis permutation and flip, oblique and sheared sforms (ties
included), qform-only headers, headers with neither (nibabel's Analyze convention), header values nibabel fixes on
load, 4-D series, every datatype with scaling, both byte orders and gzip, into tests/data/volumes/nibabel/, and
records what nibabel makes of each in expected.json: the axis codes of the file's affine, and the volume brought to
Med2E3.Native's canonical (D, H, W) layout, with its affine and voxel sizes.

The canonical layout is derived here from nibabel alone: io_orientation + apply_orientation give the RAS+ array
(x → R, y → A, z → S); the canonical array is that array with every axis reversed, in (z, y, x) order, so that D runs
towards I, H towards P and W towards L; its affine is the RAS array's affine composed with the reversal.

Where a step of io_orientation is an exact tie (two world axes equally close, e.g. a rotation of exactly 45°), the
case lists it under "ties": nibabel's answer there comes from the last-bit rounding of LAPACK's SVD and is not a
property of the file; Med2E3.Native breaks such ties towards the lower world axis, as numpy's argmax does on equal
values.

Run with Debian's packages (python3-nibabel 5.0, python3-numpy 1.24) from the repository root:
    /usr/bin/python3 scripts/oracles/nifti_nibabel.py
The output is deterministic (fixed seeds); the test NiftiNibabelParityTests reads it.
"""
import gzip
import json
import os
import shutil

import nibabel as nib
import numpy as np
from nibabel.orientations import aff2axcodes, apply_orientation, inv_ornt_aff, io_orientation

OUT = os.path.join("tests", "data", "volumes", "nibabel")
SHAPE = (5, 4, 3)  # (ni, nj, nk), i fastest on disk


def rot(axis, degrees):
    t = np.deg2rad(degrees)
    c, s = np.cos(t), np.sin(t)
    m = np.eye(3)
    i, j = [(1, 2), (0, 2), (0, 1)][axis]
    m[i, i] = c
    m[j, j] = c
    m[i, j] = -s
    m[j, i] = s
    return m


def affine(m3, zooms=(0.8, 0.9, 2.5), offset=(10.0, -20.0, 30.0)):
    a = np.eye(4)
    a[:3, :3] = np.asarray(m3) @ np.diag(zooms)
    a[:3, 3] = offset
    return a


def values(shape, seed, kind="float32"):
    rng = np.random.default_rng(seed)
    if kind == "index":
        return np.arange(np.prod(shape), dtype=np.float32).reshape(shape, order="F")
    return rng.uniform(-1000, 1000, size=shape).astype(np.float32)


def header_for(version, big):
    cls = nib.Nifti1Header if version == 1 else nib.Nifti2Header
    return cls(endianness=">" if big else "<")


def save(name, data, aff=None, sform_code=1, qform_code=0, version=1, big=False, dtype=None, slope=None, inter=None,
         zooms=None, raw=None):
    """Writes the stored values `data` (i, j, k) with the given header; `raw` edits header fields after nibabel has
    filled them (values nibabel would not set itself)."""
    hdr = header_for(version, big)
    hdr.set_data_dtype(dtype or data.dtype)
    cls = nib.Nifti1Image if version == 1 else nib.Nifti2Image
    img = cls(data, None, header=hdr)
    if aff is not None:
        img.header.set_sform(aff, code=sform_code)
        img.header.set_qform(aff, code=qform_code)
    else:
        img.header.set_sform(None, code=0)
        img.header.set_qform(None, code=0)
    if zooms is not None:
        img.header["pixdim"][1:4] = zooms
    if slope is not None:
        img.header.set_slope_inter(slope, inter)
    for field, value in (raw or {}).items():
        img.header[field] = value
    path = os.path.join(OUT, name)
    plain = path[:-3] if path.endswith(".gz") else path
    # to_filename would recompute the header from the image's affine; write the header we built, then the data.
    with open(plain, "wb") as f:
        img.header.write_to(f)
        f.seek(int(img.header["vox_offset"]))
        # NIfTI stores i fastest: Fortran order; the header's dtype carries the byte order.
        f.write(np.asarray(data).astype(img.header.get_data_dtype()).tobytes(order="F"))
    if path.endswith(".gz"):
        with open(plain, "rb") as src, gzip.GzipFile(path, "wb", mtime=0) as dst:
            shutil.copyfileobj(src, dst)
        os.remove(plain)
    return name


def ties(aff, ornt):
    """The steps of io_orientation where two world axes have |R| equal to within 1e-12: there nibabel's choice is
    decided by the rounding of LAPACK's SVD (it can differ between builds), not by the file. [voxel axis, rows]."""
    rzs = aff[:3, :3]
    rs = rzs / np.sqrt((rzs * rzs).sum(axis=0))
    p, _, qs = np.linalg.svd(rs)
    r = np.abs(p @ qs)
    found = []
    used = []
    for v in range(3):
        col = [r[row, v] if row not in used else -1.0 for row in range(3)]
        best = max(col)
        rows = [row for row in range(3) if col[row] >= best * (1 - 1e-12)]
        if len(rows) > 1:
            found.append([v, rows])
        used.append(int(ornt[v, 0]))
    return found


def expected(name, frame=None):
    img = nib.load(os.path.join(OUT, name))
    data = img.dataobj[..., frame] if frame is not None else img.dataobj[...]
    data = np.asarray(data, dtype=np.float64)
    if img.ndim > 3 and frame is None:
        data = data.reshape(data.shape[:3])
    aff = img.affine
    ornt = io_orientation(aff)
    ras = apply_orientation(data, ornt)
    ras_aff = aff @ inv_ornt_aff(ornt, data.shape)
    nx, ny, nz = ras.shape
    reverse = np.array([[-1, 0, 0, nx - 1], [0, -1, 0, ny - 1], [0, 0, -1, nz - 1], [0, 0, 0, 1]], dtype=float)
    canon = ras[::-1, ::-1, ::-1].transpose(2, 1, 0)
    canon_aff = ras_aff @ reverse
    spacing = np.sqrt((canon_aff[:3, :3] ** 2).sum(axis=0))  # columns w, h, d
    return {
        "file": name,
        "frame": frame,
        "ties": ties(aff, ornt),
        "axcodes": "".join(aff2axcodes(aff)),
        "ornt": ornt.astype(int).tolist(),
        "shape": list(canon.shape),
        "spacing": [float(spacing[2]), float(spacing[1]), float(spacing[0])],
        "affine": canon_aff.tolist(),
        "values": [float(np.float32(v)) for v in canon.ravel()],
    }


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    cases = []

    # Every permutation and flip of the axes, as an sform.
    n = 0
    for perm in [(0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)]:
        for signs in np.ndindex(2, 2, 2):
            m = np.zeros((3, 3))
            for v in range(3):
                m[perm[v], v] = -1.0 if signs[v] else 1.0
            name = save(f"axes-{n:02d}.nii", values(SHAPE, n), affine(m))
            cases.append(expected(name))
            n += 1

    # Oblique rotations, including the strongly oblique (−35°, −35°, −17.5°) in every Euler order, and exact ties.
    obliques = []
    for order in [(0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)]:
        obliques.append(("x-35y-35z-17.5-" + "".join("xyz"[a] for a in order),
                         rot(order[0], -35) @ rot(order[1], -35) @ rot(order[2], -17.5)))
    for degrees in [(30, 30, 30), (-30, 20, 10), (44, 0, 0), (46, 0, 0), (0, 60, 0), (0, 0, 89), (10, -70, 25)]:
        obliques.append(("rot%g_%g_%g" % degrees, rot(0, degrees[0]) @ rot(1, degrees[1]) @ rot(2, degrees[2])))
    for degrees in [(0, 0, 45), (0, 45, 0), (45, 0, 0), (0, 0, -45), (0, 0, 135), (45, 45, 0), (0, 45, 45),
                    (45, 0, 45), (45, 45, 45), (-45, 45, -45), (90, 45, 0), (0, 0, 225)]:
        obliques.append(("tie%g_%g_%g" % degrees, rot(0, degrees[0]) @ rot(1, degrees[1]) @ rot(2, degrees[2])))
    rng = np.random.default_rng(7)
    for r in range(16):
        q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
        obliques.append((f"random{r:02d}", q))
    for label, m in obliques:
        for zooms in [(0.8, 0.9, 2.5), (1.0, 1.0, 1.0)]:
            name = save(f"oblique-{label}-{'iso' if zooms == (1.0, 1.0, 1.0) else 'aniso'}.nii",
                        values(SHAPE, len(cases)), affine(m, zooms))
            cases.append(expected(name))

    # Sheared sforms (gantry tilt, tilted stacks).
    for k, shear in enumerate([[[1, 0, 0], [0, 1, 0.3], [0, 0, 1]], [[1, 0.5, 0], [0, 1, 0], [0.2, 0, 1]],
                               [[-1, 0, 0], [0, -1, 0.7], [0, 0, 1]]]):
        name = save(f"shear-{k}.nii", values(SHAPE, 100 + k), affine(np.array(shear, dtype=float)))
        cases.append(expected(name))

    # qform only, qform with negative qfac, qform and a different sform (the sform wins).
    for k, m in enumerate([rot(2, 90), rot(0, 20) @ rot(2, -70), np.diag([1, 1, -1.0]) @ rot(1, 30),
                           np.diag([-1, -1, 1.0])]):
        name = save(f"qform-{k}.nii", values(SHAPE, 200 + k), affine(m), sform_code=0, qform_code=1)
        cases.append(expected(name))
    name = save("qform-and-sform.nii", values(SHAPE, 210), affine(rot(2, 90)), sform_code=0, qform_code=1)
    img = nib.load(os.path.join(OUT, name))
    hdr = img.header.copy()
    hdr.set_sform(affine(np.diag([-1, -1, 1.0])), code=2)
    with open(os.path.join(OUT, name), "r+b") as f:
        hdr.write_to(f)
    cases.append(expected(name))

    # Neither qform nor sform: nibabel's Analyze convention (x flipped, origin at the centre).
    for k, (zooms, raw) in enumerate([((0.8, 0.9, 2.5), {}), ((1, 1, 1), {}), ((-0.8, 0.9, 2.5), {}),
                                      ((0, 0.9, 2.5), {}), ((0.8, 0.9, 2.5), {"pixdim": [0.3, 0.8, 0.9, 2.5, 1, 1, 1, 1]})]):
        name = save(f"noxform-{k}.nii", values(SHAPE, 300 + k), None, zooms=zooms, raw=raw)
        cases.append(expected(name))
    # Codes nibabel resets to 0 on load (and then ignores), and a qform with a qfac nibabel reads as 1.
    name = save("badcode-sform7.nii", values(SHAPE, 310), affine(rot(2, 90)), sform_code=1, qform_code=0,
                raw={"sform_code": 7})
    cases.append(expected(name))
    name = save("badcode-qform-1.nii", values(SHAPE, 311), affine(rot(2, 90)), sform_code=0, qform_code=1,
                raw={"qform_code": -1})
    cases.append(expected(name))
    name = save("qfac0.nii", values(SHAPE, 312), affine(np.diag([1, 1, -1.0])), sform_code=0, qform_code=1,
                raw={"pixdim": [0, 0.8, 0.9, 2.5, 1, 1, 1, 1]})
    cases.append(expected(name))

    # 4-D series: every frame.
    data4 = np.stack([values(SHAPE, 400 + t) for t in range(3)], axis=-1)
    name = save("frames-3.nii.gz", data4, affine(rot(2, 10)))
    for t in range(3):
        cases.append(expected(name, t))

    # Datatypes with scaling, both byte orders, NIfTI-2, gzip.
    rng = np.random.default_rng(5)
    for k, (dtype, slope, inter) in enumerate([
            ("uint8", None, None), ("int8", 2.0, -5.0), ("int16", 0.5, -1024.0), ("uint16", 1.0, -1024.0),
            ("int32", None, None), ("uint32", 3.0, 0.0), ("int64", None, None), ("uint64", None, None),
            ("float32", None, None), ("float64", 0.25, 10.0)]):
        info = np.iinfo(dtype) if dtype[0] in "ui" else None
        lo, hi = (max(info.min, -2 ** 20), min(info.max, 2 ** 20)) if info else (-1e4, 1e4)
        stored = rng.uniform(lo, hi, size=SHAPE)
        stored = np.round(stored) if info else stored
        for version, big, gz in [(1, False, False), (2, True, True), (1, True, False), (2, False, True)]:
            name = f"dtype-{dtype}-v{version}-{'be' if big else 'le'}.nii{'.gz' if gz else ''}"
            save(name, stored.astype(dtype), affine(rot(1, 15)), version=version, big=big, dtype=dtype, slope=slope,
                 inter=inter)
            cases.append(expected(name))

    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump({"oracle": f"nibabel {nib.__version__}, numpy {np.__version__}", "cases": cases}, f, indent=0)
    print(f"{len(cases)} cases in {OUT}")


if __name__ == "__main__":
    main()
