#!/usr/bin/env python3
"""Writes the ggml block-format fixtures under tests/data/ggml/: for each type, raw
blocks (<TYPE>.bin) and the float32 values the PyPI `gguf` package's numpy
dequantizer (gguf.quants.dequantize) gives for them (<TYPE>.f32, little-endian,
block_size values per block). src/quant/ggml_types_test.cc decodes the .bin with
septet's scalar reference and compares with the .f32 bit for bit, so the layouts
are checked against an implementation septet does not share code with. Python is
not needed to build or test.

    python3 -m venv /tmp/ggmlvenv && /tmp/ggmlvenv/bin/pip install gguf numpy
    /tmp/ggmlvenv/bin/python scripts/make-ggml-fixtures.py

Generated with gguf 0.19.0 and numpy 2.4.6. The output is deterministic (fixed
seeds); rerunning with those versions rewrites identical files.

Block contents: seeded pseudo-random bytes, except that every fp16 scale field
(d, and dmin / m where the type has one) is overwritten with a finite value of
moderate size (|v| in [2^-12, 4], either sign), so every expected value is
finite. The first blocks of each type are edge cases: all codes zero, all code
bytes 0xFF (the largest codes), a negative d, and a subnormal d.
"""
import argparse
import os

import numpy as np
from gguf import GGMLQuantizationType, quants
from gguf.constants import GGML_QUANT_SIZES

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# type name -> (blocks to write, byte offsets of the fp16 scale fields in a block).
# Offsets follow ggml's block structs (ggml-common.h; septet's src/quant/ggml_*.h).
TYPES = {
    "Q4_0": (96, [0]),
    "Q4_1": (96, [0, 2]),
    "Q5_0": (96, [0]),
    "Q5_1": (96, [0, 2]),
    "Q8_0": (48, [0]),
    "Q2_K": (24, [80, 82]),
    "Q3_K": (24, [108]),
    "Q4_K": (24, [0, 2]),
    "Q5_K": (24, [0, 2]),
    "Q6_K": (24, [208]),
    "IQ4_NL": (96, [0]),
    "IQ4_XS": (24, [0]),
}


def fp16_bytes(values):
    return np.ascontiguousarray(values, dtype="<f2").view(np.uint8).reshape(-1, 2)


def make_blocks(name, n_blocks, scale_offsets):
    qtype = GGMLQuantizationType[name]
    block_size, type_size = GGML_QUANT_SIZES[qtype]
    rng = np.random.Generator(np.random.PCG64(int(qtype) * 1000003 + 12))
    blocks = rng.integers(0, 256, size=(n_blocks, type_size), dtype=np.uint8)
    # Moderate finite scales: log-uniform magnitude in [2^-12, 4], random sign.
    mag = np.exp2(rng.uniform(-12.0, 2.0, size=(n_blocks, len(scale_offsets))))
    sign = np.where(rng.integers(0, 2, size=mag.shape) == 1, -1.0, 1.0)
    scales = (mag * sign).astype(np.float16)
    for k, off in enumerate(scale_offsets):
        blocks[:, off:off + 2] = fp16_bytes(scales[:, k])
    is_code = np.ones(type_size, dtype=bool)
    for off in scale_offsets:
        is_code[off:off + 2] = False
    blocks[0, is_code] = 0x00            # every code (and sub-scale) zero
    blocks[1, is_code] = 0xFF            # every code (and sub-scale) at its maximum
    d0 = scale_offsets[0]
    blocks[2, d0:d0 + 2] = fp16_bytes([-0.75])[0]      # negative super-block scale
    blocks[3, d0:d0 + 2] = fp16_bytes([2.0 ** -20])[0]  # subnormal fp16 scale
    return qtype, block_size, blocks


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "data", "ggml"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    total = 0
    for name, (n_blocks, offsets) in TYPES.items():
        qtype, block_size, blocks = make_blocks(name, n_blocks, offsets)
        values = quants.dequantize(blocks, qtype).astype("<f4").reshape(-1)
        assert values.size == n_blocks * block_size, name
        assert np.all(np.isfinite(values)), name
        with open(os.path.join(args.out, name + ".bin"), "wb") as f:
            f.write(blocks.tobytes())
        with open(os.path.join(args.out, name + ".f32"), "wb") as f:
            f.write(values.tobytes())
        size = blocks.nbytes + values.nbytes
        total += size
        print(f"{name:7s} {n_blocks:3d} blocks of {block_size:3d}: {size:6d} bytes")
    print(f"total {total} bytes")


if __name__ == "__main__":
    main()
