#!/usr/bin/python3
"""tokenizer.json (Hugging Face tokenizers) for the 32,000-piece test model, as transformers' Llama converter
(convert_slow_tokenizer.LlamaConverter with SentencePieceExtractor) builds it from tokenizer.model with
legacy false: no normalizer, Metaspace("▁", prepend_scheme "first", split false) (legacy true would instead
have the normalizer Prepend("▁") + Replace(" ", "▁") and no pre-tokenizer; the tests make that variant by
swapping these two entries). Written gzip-compressed to tests/data/tokenizer/phi3-32k/tokenizer.json.gz:
BPE with byte fallback and fuse_unk, the merges of every piece that two pieces concatenate to (ordered by
the piece's score, then as the converter orders them), the Phi-3 added tokens 32000..32010 with their rstrip
flags, a BOS template post-processor and the Llama decoder (Replace "▁" → " ", ByteFallback, Fuse, Strip one
leading space). The tests run Hugging Face tokenizers on them through the Tokenizers.DotNet package.
Needs Debian's python3-sentencepiece. Run from the repository root:
  /usr/bin/python3 scripts/tokenizer/make_phi3_tokenizer_json.py
"""
import gzip
import importlib.util
import json
import os

import sentencepiece as spm

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("cases", os.path.join(HERE, "make_phi3_cases.py"))
cases = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cases)


def merges_of(vocab, scores):
    """Every (left, right) whose concatenation is a piece; by the piece's score (highest first), then the longer
    left part, then the longer right part, and within one piece by the ids of left and right."""
    merges = []
    for piece, score in scores.items():
        local = [(piece[:i], piece[i:], score) for i in range(1, len(piece))
                 if piece[:i] in vocab and piece[i:] in vocab]
        merges.extend(sorted(local, key=lambda m: (vocab[m[0]], vocab[m[1]])))
    merges.sort(key=lambda m: (m[2], len(m[0]), len(m[1])), reverse=True)
    return [[left, right] for left, right, _ in merges]


def added_tokens():
    def token(i, content, special, rstrip):
        return {"id": i, "content": content, "single_word": False, "lstrip": False, "rstrip": rstrip,
                "normalized": False, "special": special}
    out = [token(0, "<unk>", True, False), token(1, "<s>", True, False), token(2, "</s>", False, True)]
    return out + [token(i, content, True, rstrip) for i, content, rstrip in cases.PHI3_ADDED]


def tokenizer_json(sp, legacy=False):
    vocab = {sp.id_to_piece(i): i for i in range(sp.get_piece_size())}
    scores = {sp.id_to_piece(i): sp.get_score(i) for i in range(sp.get_piece_size())}
    meta = cases.SPIECE_UNDERLINE
    if legacy:
        normalizer = {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": meta},
            {"type": "Replace", "pattern": {"String": " "}, "content": meta}]}
        pre_tokenizer = None
    else:
        normalizer = None
        pre_tokenizer = {"type": "Metaspace", "replacement": meta, "prepend_scheme": "first", "split": False}
    bos = {"SpecialToken": {"id": "<s>", "type_id": 0}}
    return {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added_tokens(),
        "normalizer": normalizer, "pre_tokenizer": pre_tokenizer,
        "post_processor": {"type": "TemplateProcessing",
                           "single": [bos, {"Sequence": {"id": "A", "type_id": 0}}],
                           "pair": [bos, {"Sequence": {"id": "A", "type_id": 0}},
                                    {"SpecialToken": {"id": "<s>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
                           "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": meta}, "content": " "}, {"type": "ByteFallback"},
            {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
                  "vocab": vocab, "merges": merges_of(vocab, scores)},
    }


def main():
    sp = spm.SentencePieceProcessor(model_file=cases.MODEL)
    data = json.dumps(tokenizer_json(sp), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    path = os.path.join(cases.DIR, "tokenizer.json.gz")
    with open(path, "wb") as f:
        # mtime 0 keeps the file byte-identical between runs.
        with gzip.GzipFile(fileobj=f, mode="wb", mtime=0) as z:
            z.write(data)
    print(f"wrote {path} ({len(data)} bytes before compression)")


if __name__ == "__main__":
    main()
