#!/usr/bin/env python3
"""Generates tokenizer oracle fixtures under tests/data/tokenizer/ with independent
reference implementations (PyPI `tokenizers` for byte-level BPE, `sentencepiece` for
the LLaMA-2 SPM model). The C++ tests only read the generated JSON; Python is not
needed to build or test.

    python3 -m venv /tmp/tokvenv && /tmp/tokvenv/bin/pip install tokenizers sentencepiece
    /tmp/tokvenv/bin/python scripts/gen_tokenizer_fixtures.py [--shared ../shared]
"""
import argparse
import json
import os
import random

import sentencepiece
import tokenizers

HAND_CASES = [
    "Hello world",
    "hello",
    " leading space",
    "trailing space ",
    "two  spaces   three    four",
    "   ",
    "line one\nline two\n\nline four\r\n",
    "\t tabbed\tthing",
    "12345",
    "3.14159 and 1,000,000 plus 0x1F",
    "Hello, world! What's up?? (yes) [no] {maybe} <tag> a+b=c; x/y @me #tag $5 50% ^_^ ~ `code`",
    "don't I'll we've they're she's it'd I'm DON'T",
    "caf\u00e9 na\u00efve r\u00e9sum\u00e9 \u00fcber Stra\u00dfe",
    "\u4f60\u597d\uff0c\u4e16\u754c\uff01\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8",
    "\ud55c\uad6d\uc5b4 \u0440\u0443\u0441\u0441\u043a\u0438\u0439 \u0627\u0644\u0639\u0631\u0628\u064a\u0629 \u05e2\u05d1\u05e8\u05d9\u05ea",
    "emoji \U0001F600\U0001F680 \U0001F469\u200d\U0001F4bb flags \U0001F1FA\U0001F1F8",
    "\u00bd \u2153 \u00b2 \u0663\u0664 \u2167",
    "",
    "a",
    "                                        many spaces",
    "def f(x):\n    return x * 2  # comment\n",
]

SPECIAL_CASES = [
    "<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n",
    "<|endoftext|>",
    "text<|im_end|>more",
    "<|im_start|><|im_start|>",
]


def write_fixture(path, meta, cases):
    # One case per line keeps diffs readable.
    with open(path, "w", encoding="utf-8") as f:
        f.write('{"meta": ' + json.dumps(meta, ensure_ascii=False) + ',\n"cases": [\n')
        f.write(",\n".join(json.dumps(c, ensure_ascii=False) for c in cases))
        f.write("\n]}\n")


def sample_lines(path, n, rng):
    with open(path, encoding="utf-8") as f:
        lines = [l for l in f.read().split("\n") if l.strip()]
    return rng.sample(lines, min(n, len(lines)))


def main():
    ap = argparse.ArgumentParser()
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--shared", default=os.path.join(here, "..", "..", "shared"))
    ap.add_argument("--out", default=os.path.join(here, "..", "tests", "data", "tokenizer"))
    args = ap.parse_args()
    rng = random.Random(1234)
    wiki = sample_lines(os.path.join(args.shared, "data", "wiki.test.raw"), 60, rng)
    stories = sample_lines(os.path.join(args.shared, "data", "TinyStories-valid.head32k.txt"), 20, rng)

    # Byte-level BPE: SmolLM2's tokenizer.json through HF tokenizers.
    tok = tokenizers.Tokenizer.from_file(
        os.path.join(args.shared, "tokenizers", "smollm2-135m-instruct", "tokenizer.json"))
    cases = []
    specials = [t.content for t in tok.get_added_tokens_decoder().values() if t.special]
    for text in HAND_CASES + wiki + stories:
        # HF always matches special tokens; that is septet's parse_special=true.
        has_special = any(s in text for s in specials)
        cases.append({"text": text, "parse_special": has_special,
                      "ids": tok.encode(text, add_special_tokens=True).ids})
    for text in SPECIAL_CASES:
        cases.append({"text": text, "parse_special": True,
                      "ids": tok.encode(text, add_special_tokens=True).ids})
    meta = {"generator": "scripts/gen_tokenizer_fixtures.py",
            "oracle": "tokenizers " + tokenizers.__version__,
            "tokenizer": "shared/tokenizers/smollm2-135m-instruct/tokenizer.json"}
    write_fixture(os.path.join(args.out, "smollm2_hf_oracle.json"), meta, cases)

    # The same vocabulary under other pre-tokenizers (the test swaps in `pre_tokenizer`):
    # ByteLevel with add_prefix_space, and a LLaMA-3 style Split regex + ByteLevel(use_regex=false).
    smol_path = os.path.join(args.shared, "tokenizers", "smollm2-135m-instruct", "tokenizer.json")
    llama3_regex = ("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}|"
                    " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+")
    variants = {
        "prefix_space": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "llama3_split": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": llama3_regex}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
        "digits_removed": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"String": " "}, "behavior": "MergedWithPrevious", "invert": False},
            {"type": "Digits", "individual_digits": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
    }
    for name, pre in variants.items():
        with open(smol_path, encoding="utf-8") as f:
            j = json.load(f)
        j["pre_tokenizer"] = pre
        vtok = tokenizers.Tokenizer.from_str(json.dumps(j))
        vcases = [{"text": t, "parse_special": False, "ids": vtok.encode(t).ids}
                  for t in HAND_CASES + wiki[:20] if not any(s in t for s in specials)]
        vmeta = dict(meta, pre_tokenizer=pre)
        write_fixture(os.path.join(args.out, "smollm2_hf_oracle_%s.json" % name), vmeta, vcases)

    # SentencePiece: LLaMA-2 tokenizer.model through the sentencepiece library (no BOS).
    sp = sentencepiece.SentencePieceProcessor(
        model_file=os.path.join(args.shared, "tokenizers", "llama2-spm-32000", "tokenizer.model"))
    cases = [{"text": t, "ids": sp.encode(t)} for t in HAND_CASES + wiki + stories]
    meta = {"generator": "scripts/gen_tokenizer_fixtures.py",
            "oracle": "sentencepiece " + sentencepiece.__version__,
            "tokenizer": "shared/tokenizers/llama2-spm-32000/tokenizer.model"}
    write_fixture(os.path.join(args.out, "llama2_spm_oracle.json"), meta, cases)


if __name__ == "__main__":
    main()
