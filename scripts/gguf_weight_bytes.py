#!/usr/bin/env python3
"""Weight bytes one decoded token reads, from a GGUF file's tensor table (PyPI `gguf`).

    scripts/gguf_weight_bytes.py FILE.gguf [FILE.gguf ...]      -> one JSON object per file on stdout

What counts is what `septet bench` counts as "matmul weights" (src/perf/model_bench.h),
so the two engines are measured with one rule: every matmul of every layer
(attn_q, attn_k, attn_v, attn_output, ffn_gate, ffn_up, ffn_down) plus the output head,
which is `output.weight` or, when the file has none (tied embeddings), `token_embd.weight`
read whole. The embedding row gather (one row per token) and the norms are left out;
both are below 0.01 % of the bytes on every shape we bench.

Only files whose tensor types the `gguf` package knows can be read (llama.cpp's types, and
septet's F32/F16/BF16/Q8_0 files); septet's own formats come from `septet bench -o json`.
"""
import json
import re
import sys

try:
    import gguf  # pip install gguf
except ImportError:  # pragma: no cover - the message is the point
    sys.exit("gguf_weight_bytes.py: the Python package 'gguf' is missing; run: pip install gguf")

_MATMUL = re.compile(r"^blk\.\d+\.(attn_q|attn_k|attn_v|attn_output|ffn_gate|ffn_up|ffn_down)\.weight$")


def _field(reader, key):
    f = reader.fields.get(key)
    if f is None:
        return None
    try:
        return f.contents()
    except Exception:  # a field the package cannot decode is simply not reported
        return None


def weight_bytes(path):
    """Returns {matmul_bytes, matmul_params, bpw, types, head, file_type, file_bytes} for one GGUF."""
    r = gguf.GGUFReader(path)
    by_name = {t.name: t for t in r.tensors}
    head = "output.weight" if "output.weight" in by_name else "token_embd.weight"
    if head not in by_name:
        raise ValueError(f"{path}: neither output.weight nor token_embd.weight")
    n_bytes = n_params = 0
    types = {}
    for t in r.tensors:
        if not (_MATMUL.match(t.name) or t.name == head):
            continue
        n_bytes += int(t.n_bytes)
        n_params += int(t.n_elements)
        name = t.tensor_type.name
        types[name] = types.get(name, 0) + 1
    if n_params == 0:
        raise ValueError(f"{path}: no matmul weight tensors")
    ft = _field(r, "general.file_type")
    return {
        "path": path,
        "matmul_bytes": n_bytes,
        "matmul_params": n_params,
        "bpw": 8.0 * n_bytes / n_params,
        "types": types,
        "head": head,
        "file_type": int(ft) if ft is not None else None,
        "file_bytes": sum(int(t.n_bytes) for t in r.tensors),
    }


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    rc = 0
    for path in argv[1:]:
        try:
            print(json.dumps(weight_bytes(path)))
        except Exception as e:  # report every file, fail at the end
            print(f"gguf_weight_bytes.py: {path}: {e}", file=sys.stderr)
            rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv))
