#!/usr/bin/python3
"""DICOM fixtures and their oracles: pydicom (decoding, tags) and dcm2niix (series -> NIfTI geometry).

Writes tests/data/dicom/:
  series/<name>/      small CT/MR series written with pydicom (and dcmtk's dcmcjpeg for JPEG Lossless): every
                      supported transfer syntax, 8/16-bit, signed/unsigned, BitsStored < BitsAllocated with junk above
                      HighBit, rescale, MONOCHROME1, axial/sagittal/coronal/oblique stacks, files in shuffled order
                      without extensions, gantry tilt, a missing slice, non-uniform spacing, an enhanced multi-frame
                      CT with per-frame functional groups, a folder tree with two series, the CT phantom of
                      tests/data/volumes, and hostile files;
  pydicom/            a few of pydicom's own test files (MIT licence, see pydicom/README.md);
  expected/           what the oracles make of them:
                        decode.json + <file>.f32.gz   pydicom's modality values per file (apply_modality_lut of
                                                      pixel_array, per-frame rescale for enhanced images) and tags;
                        series.json + <series>.f32.gz dcm2niix's NIfTI of each series, brought by nibabel to the
                                                      canonical (D, H, W) layout of Med2E3.Native (as in
                                                      nifti_nibabel.py), with its affine, voxel sizes and dcm2niix's
                                                      own messages.

Run from the repository root with Debian's python3-pydicom 2.3, python3-gdcm, python3-numpy, python3-nibabel,
dcm2niix and dcmtk:
    /usr/bin/python3 scripts/oracles/dicom_fixtures.py
Deterministic (fixed UIDs and seeds). The tests (DicomPydicomParityTests, DicomSeriesParityTests) read the output;
they do not need Python.
"""
import gzip
import json
import os
import shutil
import subprocess
import tempfile

import nibabel as nib
import numpy as np
import pydicom
from nibabel.orientations import apply_orientation, inv_ornt_aff, io_orientation
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixel_data_handlers.util import apply_modality_lut
from pydicom.sequence import Sequence
from pydicom.uid import (DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian, ExplicitVRLittleEndian,
                         ImplicitVRLittleEndian, RLELossless)

ROOT = os.path.join("tests", "data", "dicom")
SERIES = os.path.join(ROOT, "series")
EXPECTED = os.path.join(ROOT, "expected")
PYDICOM_FILES = os.path.join(os.path.dirname(pydicom.__file__), "data", "test_files")
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
ENHANCED_CT = "1.2.840.10008.5.1.4.1.1.2.1"
MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4"
UID_ROOT = "1.2.826.0.1.3680043.10.1234."  # fixed, fixture-only UIDs


def uid(*parts):
    return UID_ROOT + ".".join(str(p) for p in parts)


def mini_phantom(d=7, h=20, w=24, seed=3):
    """A small asymmetric CT-like volume in HU, canonical (D, H, W): D → inferior, H → posterior, W → patient left."""
    z, y, x = np.meshgrid(np.linspace(-1, 1, d), np.linspace(-1, 1, h), np.linspace(-1, 1, w), indexing="ij")
    hu = np.full((d, h, w), -1000.0)
    body = (x / 0.9) ** 2 + (y / 0.7) ** 2 <= 1
    hu[body] = 40
    liver = ((x + 0.4) / 0.35) ** 2 + ((y + 0.1) / 0.3) ** 2 + ((z + 0.3) / 0.8) ** 2 <= 1  # patient right, superior
    hu[liver] = 60
    hu[((x - 0.1) / 0.1) ** 2 + ((y - 0.45) / 0.12) ** 2 <= 1] = 700  # posterior bone
    hu[(z > 0.6) & body & (x > 0.3)] = 150  # inferior left block
    rng = np.random.default_rng(seed)
    hu[body] += rng.integers(-5, 6, size=int(body.sum()))
    return hu.astype(np.int16)


def base_dataset(sop_class, syntax, series_uid, instance, description, modality="CT"):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = uid(series_uid.split(".")[-1], instance, 9)
    meta.TransferSyntaxUID = syntax
    meta.ImplementationClassUID = UID_ROOT + "1"
    ds = Dataset()
    ds.file_meta = meta
    ds.preamble = b"\0" * 128
    ds.is_little_endian = syntax != ExplicitVRBigEndian
    ds.is_implicit_VR = syntax == ImplicitVRLittleEndian
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = modality
    ds.Manufacturer = "Med2E3.Native test fixtures"
    ds.PatientName = "Phantom^Fixture"
    ds.PatientID = "FIXTURE"
    ds.StudyInstanceUID = uid(1)
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = int(series_uid.split(".")[-1])
    ds.SeriesDescription = description
    ds.InstanceNumber = instance
    ds.FrameOfReferenceUID = uid(2)
    return ds


def set_pixels(ds, stored, bits_allocated, bits_stored, signed, photometric="MONOCHROME2", junk=0):
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.Rows, ds.Columns = stored.shape[-2:]
    ds.BitsAllocated = bits_allocated
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 1 if signed else 0
    container = np.dtype(("i" if signed else "u") + str(bits_allocated // 8))
    raw = stored.astype(np.int64)
    if junk:
        # Bits above HighBit are not part of the value (PS3.5 §8.1.1); fill them to check they are masked off.
        raw = (raw & ((1 << bits_stored) - 1)) | (junk << bits_stored)
        container = np.dtype("u" + str(bits_allocated // 8))
    arr = raw.astype(container)
    order = "<" if ds.is_little_endian else ">"
    ds.PixelData = arr.astype(arr.dtype.newbyteorder(order)).tobytes()
    if bits_allocated == 8:
        ds["PixelData"].VR = "OB"
    else:
        ds["PixelData"].VR = "OW"


def write_series(name, canon, syntax=ExplicitVRLittleEndian, row=(1, 0, 0), col=(0, 1, 0), spacing=(0.8, 0.7),
                 slice_step=2.5, origin=(-10.0, -20.0, 30.0), slope=1.0, intercept=0.0, bits=16, stored_bits=16,
                 signed=True, photometric="MONOCHROME2", junk=0, positions=None, skip=(), tilt=None, series_number=None,
                 modality="CT", jpeg=None, description=None):
    """Writes canon (D, H, W) as single-frame files. Pixel (j, i) of slice k is canon[k, j, i] with i along `row`,
    j along `col` and slices along row × col; with the default axial orientation the files hold the canonical
    array upside down in k (slice 0 of the files is the most inferior)."""
    folder = os.path.join(SERIES, name)
    os.makedirs(folder, exist_ok=True)
    series_number = series_number or (len(os.listdir(SERIES)) + 1)
    series_uid = uid(100, series_number)
    row, col = np.asarray(row, float), np.asarray(col, float)
    normal = np.cross(row, col)
    n = canon.shape[0]
    order = np.random.default_rng(series_number).permutation(n)  # files written in shuffled instance order
    for file_index, k in enumerate(order):
        if k in skip:
            continue
        pos = np.asarray(origin) + (positions[k] if positions is not None else k * slice_step) * normal
        if tilt is not None:
            pos = pos + k * tilt * col
        ds = base_dataset(MR_IMAGE if modality == "MR" else CT_IMAGE, syntax, series_uid, int(k) + 1,
                          description or name, modality)
        ds.ImagePositionPatient = [round(float(v), 4) for v in pos]
        ds.ImageOrientationPatient = [round(float(v), 6) for v in list(row) + list(col)]
        ds.PixelSpacing = [spacing[0], spacing[1]]
        ds.SliceThickness = slice_step
        if tilt is not None:
            ds.GantryDetectorTilt = round(float(np.degrees(np.arctan2(tilt, slice_step))), 3)
        if slope != 1.0 or intercept != 0.0 or modality == "CT":
            ds.RescaleSlope = slope
            ds.RescaleIntercept = intercept
            ds.RescaleType = "HU" if modality == "CT" else "US"
        stored = np.round((canon[k].astype(np.float64) - intercept) / slope).astype(np.int64)
        set_pixels(ds, stored, bits, stored_bits, signed, photometric, junk)
        if syntax == RLELossless:
            ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
            ds.is_little_endian, ds.is_implicit_VR = True, False
            ds.compress(RLELossless, encoding_plugin="pydicom")
        path = os.path.join(folder, f"IM{file_index:04d}")
        ds.save_as(path, write_like_original=False)
        if jpeg == "restart":
            from pydicom.encaps import encapsulate
            ds = pydicom.dcmread(path)
            frame = np.frombuffer(ds.PixelData, dtype="<u2").reshape(ds.Rows, ds.Columns)
            ds.PixelData = encapsulate([jpeg_lossless(frame, 16, 4, restart_rows=3)])
            ds["PixelData"].VR = "OB"
            ds["PixelData"].is_undefined_length = True
            ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.57"
            ds.save_as(path, write_like_original=False)
        elif jpeg is not None:
            tmp = path + ".tmp"
            subprocess.run(["dcmcjpeg"] + jpeg + [path, tmp], check=True)
            os.replace(tmp, path)
    return folder


def write_enhanced(name, canon, slopes, origin=(5.0, -12.0, -40.0), step=3.0):
    """One Enhanced CT file: frames with per-frame positions and rescale, shared orientation and pixel measures."""
    folder = os.path.join(SERIES, name)
    os.makedirs(folder, exist_ok=True)
    series_uid = uid(100, 900)
    ds = base_dataset(ENHANCED_CT, ExplicitVRLittleEndian, series_uid, 1, name)
    n = canon.shape[0]
    ds.NumberOfFrames = n
    shared = Dataset()
    orient = Dataset()
    orient.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    shared.PlaneOrientationSequence = Sequence([orient])
    measures = Dataset()
    measures.PixelSpacing = [0.9, 0.6]
    measures.SliceThickness = step
    shared.PixelMeasuresSequence = Sequence([measures])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    per_frame = []
    stored = np.zeros(canon.shape, dtype=np.int64)
    frame_order = np.random.default_rng(5).permutation(n)  # frames stored out of spatial order
    for f, k in enumerate(frame_order):
        item = Dataset()
        plane = Dataset()
        plane.ImagePositionPatient = [origin[0], origin[1], origin[2] + float(k) * step]
        item.PlanePositionSequence = Sequence([plane])
        transform = Dataset()
        transform.RescaleSlope = slopes[f]
        transform.RescaleIntercept = -1024
        transform.RescaleType = "HU"
        item.PixelValueTransformationSequence = Sequence([transform])
        content = Dataset()
        content.InStackPositionNumber = int(k) + 1
        item.FrameContentSequence = Sequence([content])
        per_frame.append(item)
        stored[f] = np.round((canon[k] + 1024) / slopes[f])
    ds.PerFrameFunctionalGroupsSequence = Sequence(per_frame)
    set_pixels(ds, stored, 16, 16, False)
    ds.save_as(os.path.join(folder, "ENHANCED.dcm"), write_like_original=False)
    return folder


def huffman_table(categories):
    """A Huffman code for the difference categories 0–16 (the DHT counts per length and symbols by length, and the
    code of each symbol): fixed code lengths given in order of decreasing frequency; their Kraft sum is below 1, so no
    code is all ones, as the standard requires."""
    freq = np.bincount(categories, minlength=17)
    by_frequency = sorted(range(17), key=lambda s: (-freq[s], s))
    lengths = dict(zip(by_frequency, [2, 3, 3, 3, 4, 4, 5, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]))
    order = sorted(range(17), key=lambda s: (lengths[s], s))
    counts = [sum(1 for s in range(17) if lengths[s] == n) for n in range(1, 17)]
    codes, code, prev = {}, 0, lengths[order[0]]
    for s in order:
        code <<= lengths[s] - prev
        prev = lengths[s]
        codes[s] = (code, lengths[s])
        code += 1
    return counts, order, codes


def jpeg_lossless(frame, precision, predictor, restart_rows):
    """A JPEG Lossless (SOF3) stream of one grayscale frame with the given predictor and a restart interval of
    `restart_rows` rows: a test encoder, so that restart markers are covered (dcmcjpeg writes none)."""
    h, w = frame.shape
    x = frame.astype(np.int64)
    diffs = np.zeros((h, w), np.int64)
    for r in range(h):
        first_row = r % restart_rows == 0
        for c in range(w):
            if first_row:
                p = (1 << (precision - 1)) if c == 0 else x[r, c - 1]
            elif c == 0:
                p = x[r - 1, 0]
            else:
                ra, rb, rc = x[r, c - 1], x[r - 1, c], x[r - 1, c - 1]
                p = {1: ra, 2: rb, 3: rc, 4: ra + rb - rc, 5: ra + ((rb - rc) >> 1), 6: rb + ((ra - rc) >> 1),
                     7: (ra + rb) >> 1}[predictor]
            d = (x[r, c] - p) & 0xFFFF
            diffs[r, c] = d - 0x10000 if d >= 0x8000 else d
    cats = np.array([0 if d == 0 else (16 if d == -32768 else int(abs(d)).bit_length()) for d in diffs.ravel()])
    counts, symbols, codes = huffman_table(cats)
    out = bytearray(b"\xff\xd8")
    dht = bytes([0x00]) + bytes(counts) + bytes(symbols)
    out += b"\xff\xc4" + (len(dht) + 2).to_bytes(2, "big") + dht
    out += b"\xff\xc3" + (11).to_bytes(2, "big") + bytes([precision]) + h.to_bytes(2, "big") + w.to_bytes(2, "big") + \
        bytes([1, 1, 0x11, 0])
    out += b"\xff\xdd" + (4).to_bytes(2, "big") + (restart_rows * w).to_bytes(2, "big")
    out += b"\xff\xda" + (8).to_bytes(2, "big") + bytes([1, 1, 0x00, predictor, 0, 0])
    bits, nbits, rst = 0, 0, 0

    def flush_byte(b):
        out.append(b)
        if b == 0xFF:
            out.append(0)

    def put(value, n):
        nonlocal bits, nbits
        bits = (bits << n) | (value & ((1 << n) - 1))
        nbits += n
        while nbits >= 8:
            nbits -= 8
            flush_byte((bits >> nbits) & 0xFF)

    for r in range(h):
        if r > 0 and r % restart_rows == 0:
            if nbits:
                put((1 << (8 - nbits)) - 1, 8 - nbits)  # pad with ones
            out += bytes([0xFF, 0xD0 + rst])
            rst = (rst + 1) % 8
        for c in range(w):
            d = int(diffs[r, c])
            cat = 0 if d == 0 else (16 if d == -32768 else abs(d).bit_length())
            put(*codes[cat])
            if 0 < cat < 16:
                put(d if d > 0 else d + (1 << cat) - 1, cat)
    if nbits:
        put((1 << (8 - nbits)) - 1, 8 - nbits)
    out += b"\xff\xd9"
    return bytes(out)


def modality_frames(path):
    """pydicom's modality values of every frame, as float32 (D, rows, cols)."""
    ds = pydicom.dcmread(path)
    arr = ds.pixel_array
    arr = arr.reshape((-1,) + arr.shape[-2:])
    if "PerFrameFunctionalGroupsSequence" in ds:
        out = []
        for f, item in enumerate(ds.PerFrameFunctionalGroupsSequence):
            t = item.PixelValueTransformationSequence[0]
            out.append(arr[f].astype(np.float64) * float(t.RescaleSlope) + float(t.RescaleIntercept))
        values = np.stack(out)
    else:
        values = apply_modality_lut(arr, ds).astype(np.float64)
    return ds, values.astype(np.float32)


def masked(ds, arr):
    """The stored values as PS3.5 defines them: BitsStored bits ending at HighBit, sign-extended if signed."""
    stored, high = int(ds.BitsStored), int(ds.HighBit)
    raw = arr.astype(np.int64) & ((1 << int(ds.BitsAllocated)) - 1)
    v = (raw >> (high + 1 - stored)) & ((1 << stored) - 1)
    if int(ds.PixelRepresentation) == 1:
        v = np.where(v >= 1 << (stored - 1), v - (1 << stored), v)
    return v


def save_f32(path, values):
    with gzip.GzipFile(path, "wb", mtime=0) as f:
        f.write(np.ascontiguousarray(values, dtype="<f4").tobytes())


def canonical_from_nifti(path):
    img = nib.load(path)
    data = np.asarray(img.dataobj, dtype=np.float64)
    if data.ndim == 2:
        data = data[..., None]
    data = data.reshape(data.shape[:3])
    ornt = io_orientation(img.affine)
    ras = apply_orientation(data, ornt)
    ras_aff = img.affine @ inv_ornt_aff(ornt, data.shape)
    nx, ny, nz = ras.shape
    reverse = np.array([[-1, 0, 0, nx - 1], [0, -1, 0, ny - 1], [0, 0, -1, nz - 1], [0, 0, 0, 1]], dtype=float)
    aff = ras_aff @ reverse
    sp = np.sqrt((aff[:3, :3] ** 2).sum(axis=0))
    return ras[::-1, ::-1, ::-1].transpose(2, 1, 0), aff, [float(sp[2]), float(sp[1]), float(sp[0])]


def dcm2niix(folder):
    """dcm2niix's NIfTI files of a series folder, and how they were made. dcm2niix 1.0.20220720 neither inflates
    Deflated files nor decodes JPEG Lossless with restart markers; for those (as its own messages advise) the files
    are first decoded losslessly with dcmtk (dcmconv +te, dcmdjpeg) and the result is converted."""
    out = tempfile.mkdtemp()
    run = subprocess.run(["dcm2niix", "-z", "n", "-b", "n", "-f", "%s_%d", "-o", out, folder], capture_output=True,
                         text=True)
    via = "dcm2niix"
    niftis = sorted(f for f in os.listdir(out) if f.endswith(".nii"))
    if not niftis:
        source = tempfile.mkdtemp()
        for f in sorted(os.listdir(folder)):
            syntax = str(pydicom.dcmread(os.path.join(folder, f), stop_before_pixels=True).file_meta.TransferSyntaxUID)
            tool = ["dcmdjpeg"] if syntax.startswith("1.2.840.10008.1.2.4.") else ["dcmconv", "+te"]
            subprocess.run(tool + [os.path.join(folder, f), os.path.join(source, f)], check=True)
            via = f"{tool[0]} then dcm2niix"
        run = subprocess.run(["dcm2niix", "-z", "n", "-b", "n", "-f", "%s_%d", "-o", out, source], capture_output=True,
                             text=True)
        shutil.rmtree(source)
        niftis = sorted(f for f in os.listdir(out) if f.endswith(".nii"))
    messages = [line for line in run.stdout.splitlines() if "arning" in line or "rror" in line]
    return out, niftis, messages, via


def main():
    if os.path.isdir(ROOT):
        shutil.rmtree(ROOT)
    os.makedirs(SERIES)
    os.makedirs(EXPECTED)
    ct = mini_phantom()
    series = []

    def add(name, folder, expect_warnings=(), uneven=False):
        series.append(dict(name=name, folder=folder, expect_warnings=list(expect_warnings), uneven=uneven))

    add("explicit-le-int16", write_series("explicit-le-int16", ct))
    add("implicit-le-uint12", write_series("implicit-le-uint12", ct, ImplicitVRLittleEndian, intercept=-1024.0,
                                           stored_bits=12, signed=False, junk=0xA))
    add("explicit-be-int16", write_series("explicit-be-int16", ct, ExplicitVRBigEndian, slope=0.5, intercept=-1024.0))
    add("deflated-int16", write_series("deflated-int16", ct, DeflatedExplicitVRLittleEndian))
    add("rle-int16", write_series("rle-int16", ct, RLELossless, intercept=-1024.0))
    add("rle-uint8", write_series("rle-uint8", np.clip((ct + 1000) // 8, 0, 255).astype(np.int16), RLELossless,
                                  bits=8, stored_bits=8, signed=False, modality="MR"))
    add("jpeg-sv1-uint16", write_series("jpeg-sv1-uint16", ct, intercept=-1024.0, signed=False,
                                        jpeg=["+e1"]))
    add("jpeg-sv1-int16", write_series("jpeg-sv1-int16", ct, jpeg=["+e1"]))
    add("jpeg-sv7-uint12", write_series("jpeg-sv7-uint12", ct, intercept=-1024.0, stored_bits=12, signed=False,
                                        jpeg=["+el", "+sv", "7"]))
    add("jpeg-sv4-restart", write_series("jpeg-sv4-restart", ct, intercept=-1024.0, signed=False, jpeg="restart"))
    add("uint8-monochrome1", write_series("uint8-monochrome1", np.clip(255 - (ct + 1000) // 8, 0, 255).astype(np.int16),
                                          bits=8, stored_bits=8, signed=False, photometric="MONOCHROME1", modality="MR"))
    add("sagittal", write_series("sagittal", ct, row=(0, 1, 0), col=(0, 0, -1)))
    add("coronal", write_series("coronal", ct, row=(1, 0, 0), col=(0, 0, -1), slice_step=-2.0))
    r = np.array([[np.cos(0.4), -np.sin(0.4), 0], [np.sin(0.4), np.cos(0.4), 0], [0, 0, 1]]) @ \
        np.array([[1, 0, 0], [0, np.cos(-0.3), -np.sin(-0.3)], [0, np.sin(-0.3), np.cos(-0.3)]])
    add("oblique", write_series("oblique", ct, row=r[:, 0], col=r[:, 1]))
    add("gantry-tilt", write_series("gantry-tilt", ct, tilt=0.6), ["gantry tilt"])
    add("missing-slice", write_series("missing-slice", ct, skip=(3,)), ["missing slices"], uneven=True)
    add("non-uniform", write_series("non-uniform", ct, positions=np.array([0, 2.5, 5, 7.5, 11, 13.5, 16.0])),
        ["non-uniform slice spacing"], uneven=True)
    add("enhanced-ct", write_enhanced("enhanced-ct", ct, slopes=[1] * 7))
    # Per-frame rescale that varies: dcm2niix 1.0.20220720 applies the first frame's slope to every frame (silently),
    # so this one's series oracle is pydicom's per-frame values placed by their per-frame positions.
    rescaled = write_enhanced("enhanced-ct-rescale", ct, slopes=[1, 1, 2, 1, 1, 2, 1])

    # The CT phantom of tests/data/volumes as an axial series: reading it must give the NIfTI sample's array.
    img = nib.load(os.path.join("tests", "data", "volumes", "phantom-ct-8x32x32.nii.gz"))
    phantom_canon, _, phantom_spacing = canonical_from_nifti(img.get_filename())
    add("phantom-ct-8x32x32", write_series("phantom-ct-8x32x32", phantom_canon[::-1].astype(np.int16),
                                           spacing=(phantom_spacing[1], phantom_spacing[2]), slice_step=phantom_spacing[0],
                                           intercept=-1024.0, signed=False, description="CT phantom"))

    # A folder tree with two series (and a file that is not DICOM), for listing and --series.
    tree = os.path.join(SERIES, "two-series")
    write_series("two-series/study/a", ct[:, :, :], series_number=41, description="AXIAL A")
    write_series("two-series/study/b/deeper", ct[1:5], ExplicitVRLittleEndian, spacing=(0.5, 0.5), series_number=42,
                 description="AXIAL B")
    with open(os.path.join(tree, "README.txt"), "w") as f:
        f.write("not a DICOM file\n")

    # Hostile and unsupported files, each with the start of the message it must give.
    hostile = os.path.join(SERIES, "hostile")
    os.makedirs(hostile)
    good = os.path.join(SERIES, "explicit-le-int16", "IM0000")
    raw = open(good, "rb").read()
    refused = []

    def bad(name, data, message):
        with open(os.path.join(hostile, name), "wb") as f:
            f.write(data)
        refused.append({"file": "series/hostile/" + name, "message": message})

    bad("truncated", raw[:len(raw) - 100], "truncated pixel data")
    bad("no-dicm", raw[:128] + b"XXXX" + raw[132:], "unknown volume format")
    pixel = raw.rfind(b"\xe0\x7f\x10\x00")
    bad("huge-pixel-length", raw[:pixel + 8] + b"\xff\xff\xff\x7f" + raw[pixel + 12:], "truncated pixel data")
    # An element whose length runs past the end of the file.
    at = raw.find(b"\x08\x00\x60\x00")  # Modality (0008,0060) CS
    bad("overlong-element", raw[:at + 6] + b"\xff\x7f" + raw[at + 8:], "element (0008,0060) claims")
    # Sequences nested 40 deep.
    nest = b""
    for _ in range(40):
        nest = b"\x09\x00\x10\x10SQ\x00\x00\xff\xff\xff\xff\xfe\xff\x00\xe0\xff\xff\xff\xff" + nest
    tail = b""
    for _ in range(40):
        tail += b"\xfe\xff\x0d\xe0\x00\x00\x00\x00\xfe\xff\xdd\xe0\x00\x00\x00\x00"
    bad("deep-nesting", raw[:at] + nest + tail + raw[at:], "sequences nested deeper than 16 levels")
    bad("empty", b"", "the file is empty")
    for name, message in [("JPEG2000.dcm", "transfer syntax JPEG 2000 Image Compression (1.2.840.10008.1.2.4.91) is not supported"),
                          ("JPEG-lossy.dcm", "transfer syntax JPEG Extended (Process 2 & 4), lossy"),
                          ("MR_small_jpeg_ls_lossless.dcm", "transfer syntax JPEG-LS Lossless"),
                          ("SC_rgb_rle.dcm", "is a colour or palette image"),
                          ("liver_1frame.dcm", "BitsAllocated 1 is not supported"),
                          ("ExplVR_LitEndNoMeta.dcm", "DICOM without the Part 10 header"),
                          ("rtstruct.dcm", "DICOM without the Part 10 header"),
                          ("rtplan.dcm", "holds no image")]:
        data = open(os.path.join(PYDICOM_FILES, name), "rb").read()
        bad("pydicom-" + name, data, message)

    # pydicom's own test files that decode: the oracle is pydicom's reading of them.
    samples = os.path.join(ROOT, "pydicom")
    os.makedirs(samples)
    for name in ["CT_small.dcm", "MR_small.dcm", "MR_small_implicit.dcm", "MR_small_bigendian.dcm", "MR_small_RLE.dcm",
                 "MR_small_padded.dcm", "image_dfl.dcm", "rtdose.dcm", "rtdose_rle.dcm", "rtdose_expb.dcm"]:
        shutil.copy(os.path.join(PYDICOM_FILES, name), samples)
    with open(os.path.join(samples, "README.md"), "w") as f:
        f.write("Test files of pydicom 2.3 (python3-pydicom from Debian, pydicom/data/test_files), distributed under\n"
                "pydicom's MIT licence (Copyright 2008-2018 Darcy Mason and pydicom contributors); see pydicom's\n"
                "test_files/README.txt for their origin (NEMA WG04 sample sets, dclunie.com, a radiotherapy planning\n"
                "system; downsized and anonymised by pydicom).\n")

    # Oracle 1: pydicom decoding and tags, per file.
    decode = []
    files = [os.path.join(samples, f) for f in sorted(os.listdir(samples)) if f.endswith(".dcm")]
    for folder in [s["folder"] for s in series] + [rescaled]:
        files += [os.path.join(folder, f) for f in sorted(os.listdir(folder))]
    for path in files:
        ds, values = modality_frames(path)
        if int(ds.BitsStored) < int(ds.BitsAllocated) and "PerFrameFunctionalGroupsSequence" not in ds:
            values = apply_modality_lut(masked(ds, ds.pixel_array).reshape(values.shape), ds).astype(np.float32)
        rel = os.path.relpath(path, ROOT)
        key = rel.replace("/", "_")
        save_f32(os.path.join(EXPECTED, key + ".f32.gz"), values)
        decode.append({
            "file": rel,
            "values": key + ".f32.gz",
            "frames": int(values.shape[0]), "rows": int(ds.Rows), "columns": int(ds.Columns),
            "transfer_syntax": str(ds.file_meta.TransferSyntaxUID),
            "photometric": str(ds.PhotometricInterpretation),
            "bits_allocated": int(ds.BitsAllocated), "bits_stored": int(ds.BitsStored), "high_bit": int(ds.HighBit),
            "pixel_representation": int(ds.PixelRepresentation),
            "series_uid": str(ds.get("SeriesInstanceUID", "")),
            "position": [float(v) for v in ds.ImagePositionPatient] if "ImagePositionPatient" in ds else None,
            "orientation": [float(v) for v in ds.ImageOrientationPatient] if "ImageOrientationPatient" in ds else None,
            "pixel_spacing": [float(v) for v in ds.PixelSpacing] if "PixelSpacing" in ds else None,
            "pydicom_masked": int(ds.BitsStored) < int(ds.BitsAllocated),
        })

    # Oracle 2: dcm2niix's NIfTI of each series, canonicalised with nibabel.
    expected_series = []
    for s in series:
        out, niftis, messages, via = dcm2niix(s["folder"])
        base = [n for n in niftis if "_Tilt_" not in n and "_Eq_" not in n]
        assert len(base) == 1, (s["name"], niftis)
        canon, aff, spacing = canonical_from_nifti(os.path.join(out, base[0]))
        save_f32(os.path.join(EXPECTED, s["name"] + ".f32.gz"), canon.astype(np.float32))
        # Unevenly spaced stacks: dcm2niix takes the first gap as the slice step; the mean step, first to last slice,
        # is recorded for the check of Med2E3.Native's affine (which keeps both end slices in place).
        files = [pydicom.dcmread(os.path.join(s["folder"], f), stop_before_pixels=True) for f in os.listdir(s["folder"])]
        heights = sorted(float(np.dot(np.asarray(f.ImagePositionPatient, float),
                                      np.cross(np.asarray(f.ImageOrientationPatient[:3], float),
                                               np.asarray(f.ImageOrientationPatient[3:], float))))
                         for f in files if "ImagePositionPatient" in f)
        mean_step = (heights[-1] - heights[0]) / (len(heights) - 1) if len(heights) > 1 else None
        expected_series.append({
            "name": s["name"], "folder": os.path.relpath(s["folder"], ROOT), "shape": list(canon.shape),
            "uneven": s["uneven"], "mean_step_mm": mean_step,
            "values": s["name"] + ".f32.gz", "affine": aff.tolist(), "spacing": spacing,
            "expect_warnings": s["expect_warnings"], "oracle": via, "dcm2niix_outputs": niftis,
            "dcm2niix_messages": messages,
        })
        shutil.rmtree(out)

    # The enhanced file with per-frame rescale, assembled from pydicom: frames ordered along the normal (LPS z, the
    # shared orientation is axial), canonical D towards inferior; the affine from the per-frame geometry.
    path = os.path.join(rescaled, "ENHANCED.dcm")
    ds, values = modality_frames(path)
    z = [float(item.PlanePositionSequence[0].ImagePositionPatient[2]) for item in ds.PerFrameFunctionalGroupsSequence]
    order = np.argsort(z)[::-1]
    canon = values[order]
    shared = ds.SharedFunctionalGroupsSequence[0]
    rowdir = np.asarray(shared.PlaneOrientationSequence[0].ImageOrientationPatient[:3], float)
    coldir = np.asarray(shared.PlaneOrientationSequence[0].ImageOrientationPatient[3:], float)
    ps = [float(v) for v in shared.PixelMeasuresSequence[0].PixelSpacing]
    top = np.asarray(ds.PerFrameFunctionalGroupsSequence[order[0]].PlanePositionSequence[0].ImagePositionPatient, float)
    step = (z[order[0]] - z[order[-1]]) / (len(z) - 1)
    lps_to_ras = np.diag([-1.0, -1.0, 1.0])
    aff = np.eye(4)
    aff[:3, 0] = lps_to_ras @ rowdir * ps[1]
    aff[:3, 1] = lps_to_ras @ coldir * ps[0]
    aff[:3, 2] = lps_to_ras @ (-np.cross(rowdir, coldir) * step)
    aff[:3, 3] = lps_to_ras @ top
    save_f32(os.path.join(EXPECTED, "enhanced-ct-rescale.f32.gz"), canon)
    expected_series.append({
        "name": "enhanced-ct-rescale", "folder": os.path.relpath(rescaled, ROOT), "shape": list(canon.shape),
        "uneven": False, "mean_step_mm": step, "values": "enhanced-ct-rescale.f32.gz", "affine": aff.tolist(),
        "spacing": [step, ps[0], ps[1]], "expect_warnings": [],
        "oracle": "pydicom per-frame values and geometry (dcm2niix applies one rescale to all frames)",
        "dcm2niix_outputs": [], "dcm2niix_messages": [],
    })

    with open(os.path.join(EXPECTED, "decode.json"), "w") as f:
        json.dump({"oracle": f"pydicom {pydicom.__version__} (gdcm for JPEG Lossless)", "files": decode,
                   "refused": refused}, f, indent=1)
    with open(os.path.join(EXPECTED, "series.json"), "w") as f:
        version = subprocess.run(["dcm2niix", "--version"], capture_output=True, text=True).stdout.strip().splitlines()
        json.dump({"oracle": f"dcm2niix ({version[-1] if version else '?'}) + nibabel {nib.__version__}",
                   "series": expected_series}, f, indent=1)
    print(f"{len(decode)} decoded files, {len(expected_series)} series, {len(refused)} refused files in {ROOT}")


if __name__ == "__main__":
    main()
