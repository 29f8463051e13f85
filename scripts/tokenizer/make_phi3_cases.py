#!/usr/bin/python3
"""Test strings and SentencePiece's own ids for the 32,000-piece test tokenizer (tests/data/tokenizer/phi3-32k).

Writes cases.json there:
  strings: [kind, text] pairs, about 3,500 of them, from a fixed seed: held-out lines of the training sources
           (lines the training never read), runs of one character, letters repeated at a line start, long
           whitespace, CJK, emoji, combining marks, byte fallback, chat templates with the Phi-3 added tokens,
           radiology phrases and random mixes of all of these;
  configs: tokenizer_config.json variants (phi3: Phi-3-mini's flags, legacy false, no BOS; legacy: legacy true,
           BOS; no_prefix: legacy false, add_prefix_space false, BOS);
  ids:     per string, "sentencepiece" = SentencePieceProcessor.encode(text) and, per config, the ids of
           transformers' slow LlamaTokenizer with that config.

transformers is not packaged by Debian, so the slow LlamaTokenizer's steps around SentencePiece
(LlamaTokenizer.tokenize / _tokenize and PreTrainedTokenizer.tokenize in transformers 4.4x: the added-token
split with its strip flags, legacy, add_prefix_space, the unk_token prefix trick, the model loaded with
add_dummy_prefix off when legacy is false) are written out below as that code does them; every piece comes from
SentencePiece itself. Needs Debian's python3-sentencepiece (0.1.97) and python3-protobuf. Run from the repository
root:  /usr/bin/python3 scripts/tokenizer/make_phi3_cases.py
"""
import glob
import gzip
import json
import os
import random

import sentencepiece as spm
from sentencepiece import sentencepiece_model_pb2 as model_pb2

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DIR = os.path.join(ROOT, "tests", "data", "tokenizer", "phi3-32k")
MODEL = os.path.join(DIR, "tokenizer.model")
SPIECE_UNDERLINE = "\u2581"

# Phi-3's added tokens (ids 32000..32010) with the flags of Phi-3-mini's tokenizer_config.json.
PHI3_ADDED = [(32000, "<|endoftext|>", False), (32001, "<|assistant|>", True), (32002, "<|placeholder1|>", True),
              (32003, "<|placeholder2|>", True), (32004, "<|placeholder3|>", True), (32005, "<|placeholder4|>", True),
              (32006, "<|system|>", True), (32007, "<|end|>", True), (32008, "<|placeholder5|>", True),
              (32009, "<|placeholder6|>", True), (32010, "<|user|>", True)]


def added_tokens_decoder():
    def entry(content, special, rstrip):
        return {"content": content, "lstrip": False, "normalized": False, "rstrip": rstrip, "single_word": False,
                "special": special}
    d = {"0": entry("<unk>", True, False), "1": entry("<s>", True, False), "2": entry("</s>", False, True)}
    for i, content, rstrip in PHI3_ADDED:
        d[str(i)] = entry(content, True, rstrip)
    return d


def config(**flags):
    c = {"added_tokens_decoder": added_tokens_decoder(), "bos_token": "<s>", "clean_up_tokenization_spaces": False,
         "eos_token": "<|endoftext|>", "model_max_length": 131072, "pad_token": "<|endoftext|>",
         "padding_side": "left", "sp_model_kwargs": {}, "tokenizer_class": "LlamaTokenizer", "unk_token": "<unk>",
         "use_default_system_prompt": False}
    c.update(flags)
    return c


CONFIGS = {
    "phi3": config(add_bos_token=False, add_eos_token=False, legacy=False),
    "legacy": config(add_bos_token=True, add_eos_token=False, legacy=True),
    "no_prefix": config(add_bos_token=True, add_eos_token=False, legacy=False, add_prefix_space=False),
}


class SlowLlamaTokenizer:
    """transformers' slow LlamaTokenizer over SentencePiece, for one tokenizer_config.json."""

    def __init__(self, cfg):
        self.legacy = True if cfg.get("legacy") is None else cfg["legacy"]
        self.add_prefix_space = cfg.get("add_prefix_space", True)
        self.add_bos_token = cfg.get("add_bos_token", True)
        self.add_eos_token = cfg.get("add_eos_token", False)
        self.unk_token = cfg["unk_token"]
        self.sp = spm.SentencePieceProcessor()
        if self.legacy:
            self.sp.Load(MODEL)
        else:
            proto = model_pb2.ModelProto.FromString(open(MODEL, "rb").read())
            proto.normalizer_spec.add_dummy_prefix = False
            self.sp.LoadFromSerializedProto(proto.SerializeToString())
        self.added = {v["content"]: (int(k), v) for k, v in cfg["added_tokens_decoder"].items()}
        self.all_special_tokens = {cfg["bos_token"], cfg["eos_token"], cfg["unk_token"], cfg["pad_token"]}
        self.bos_id = self.added[cfg["bos_token"]][0]
        self.eos_id = self.added[cfg["eos_token"]][0]
        self.unk_token_length = len(self.sp.encode(self.unk_token))

    def trie_split(self, text):
        """Leftmost match, longest at that position, no empty parts (transformers' Trie.split)."""
        parts, pos, i = [], 0, 0
        by_length = sorted(self.added, key=len, reverse=True)
        while i < len(text):
            hit = next((t for t in by_length if text.startswith(t, i)), None)
            if hit is None:
                i += 1
                continue
            if i > pos:
                parts.append(text[pos:i])
            parts.append(hit)
            i += len(hit)
            pos = i
        if pos < len(text):
            parts.append(text[pos:])
        return parts

    def base_tokenize(self, text):
        tokens = self.trie_split(text)
        for i, token in enumerate(tokens):
            if token in self.added:
                flags = self.added[token][1]
                left = tokens[i - 1] if i > 0 else None
                right = tokens[i + 1] if i < len(tokens) - 1 else None
                if flags["rstrip"] and right:
                    tokens[i + 1] = right.lstrip()
                if flags["lstrip"] and left:
                    tokens[i - 1] = left.rstrip()
                if flags["single_word"] and left and left[-1] != " ":
                    tokens[i - 1] += token
                    tokens[i] = ""
                elif flags["single_word"] and right and right[0] != " ":
                    tokens[i + 1] = token + tokens[i + 1]
                    tokens[i] = ""
        out = []
        for token in tokens:
            if not token:
                continue
            if token in self.added:
                out.append(token)
            else:
                out.extend(self._tokenize(token))
        return out

    def _tokenize(self, text):
        if self.legacy or not text.startswith((SPIECE_UNDERLINE, " ")):
            return self.sp.encode(text, out_type=str)
        tokens = self.sp.encode(self.unk_token + text, out_type=str)
        return tokens[self.unk_token_length:] if len(tokens) >= self.unk_token_length else tokens

    def tokenize(self, text):
        if self.legacy or len(text) == 0:
            return self.base_tokenize(text)
        text = text.replace(SPIECE_UNDERLINE, " ")
        if self.add_prefix_space:
            text = SPIECE_UNDERLINE + text
        tokens = self.base_tokenize(text)
        if len(tokens) > 1 and tokens[0] == SPIECE_UNDERLINE and tokens[1] in self.all_special_tokens:
            tokens = tokens[1:]
        return tokens

    def encode(self, text):
        ids = [self.added[t][0] if t in self.added else self.sp.piece_to_id(t) for t in self.tokenize(text)]
        return ([self.bos_id] if self.add_bos_token else []) + ids + ([self.eos_id] if self.add_eos_token else [])


def held_out_lines(rng):
    """Lines the training did not read: doc files past their first 4 KiB, English manual pages the training
    skipped (it took every fourth), translated pages past their first 16 KiB."""
    lines = []
    docs = sorted(p for p in glob.glob("/usr/share/doc/**/*.txt", recursive=True) if os.path.isfile(p))
    english = sorted(glob.glob("/usr/share/man/man[1-8]/*"))
    english = [p for i, p in enumerate(english) if i % 4 == 2]
    translated = sorted(p for lang in ("de", "fr", "ja", "ko", "ru", "uk", "zh_CN", "zh_TW")
                        for p in glob.glob(f"/usr/share/man/{lang}/man[1-8]/*"))
    for files, skip, want in ((docs, 4 << 10, 500), (english, 0, 400), (translated, 16 << 10, 400)):
        pool = []
        for path in files:
            opener = gzip.open if path.endswith(".gz") else open
            try:
                with opener(path, "rb") as f:
                    data = f.read(skip + (8 << 10))[skip:]
            except (OSError, EOFError):
                continue
            text = data.decode("utf-8", errors="ignore")
            pool.extend(line for line in text.splitlines()[1:-1] if line.strip())
        rng.shuffle(pool)
        lines.extend(pool[:want])
    return lines


RADIOLOGY = {
    "finding": ["consolidation", "ground-glass opacity", "pleural effusion", "pneumothorax", "nodule", "mass",
                "atelectasis", "lymphadenopathy", "hepatic steatosis", "renal cyst", "calcified granuloma",
                "emphysema", "bronchiectasis", "pericardial effusion", "free fluid", "hypodense lesion"],
    "site": ["LLL", "RLL", "RUL", "RML", "LUL", "left lower lobe", "right upper lobe", "segment VII",
             "liver dome", "spleen", "left kidney", "pancreatic head", "mediastinum", "T12 vertebral body"],
    "header": ["FINDINGS:", "IMPRESSION:", "TECHNIQUE:", "COMPARISON:", "CLINICAL HISTORY:", "Findings:",
               "Impression:"],
}


def radiology(rng):
    f, s = rng.choice(RADIOLOGY["finding"]), rng.choice(RADIOLOGY["site"])
    size = f"{rng.randint(1, 99)}.{rng.randint(0, 9)} {rng.choice(['mm', 'cm'])}"
    hu = f"{rng.randint(-1000, 1200)} HU"
    forms = [f"{rng.choice(RADIOLOGY['header'])}\n{s} {f}, {size}.",
             f"There is a {size} {f} in the {s} ({hu}).",
             f"{s}: {f}.\n{s}: no change since {rng.randint(1, 12)}/{rng.randint(1, 28)}/20{rng.randint(10, 24)}.",
             f"{rng.choice(RADIOLOGY['header'])} {rng.randint(1, 5)}. {f.capitalize()} ({s}), {size}; "
             f"{rng.choice(['unchanged', 'new', 'decreased', 'increased'])}.",
             f"- {f} -- {s} -- {size}\n- {rng.choice(RADIOLOGY['finding'])}",
             f"CT chest w/o contrast. {s.upper()} {f.upper()} {size}, {hu}. BI-RADS {rng.randint(0, 6)}.",
             f"<image3d>\nIs there {f} in the {s}?"]
    return rng.choice(forms)


def chat(rng):
    q, a = radiology(rng), rng.choice(RADIOLOGY["finding"])
    sysmsg = "A chat between a curious user and an artificial intelligence assistant."
    forms = [f"<|system|>\n{sysmsg}<|end|>\n<|user|>\n{q}<|end|>\n<|assistant|>\n",
             f"<|user|>\n{q}<|end|>\n<|assistant|>\n{a}<|end|>\n<|endoftext|>",
             f"{sysmsg} USER: {q} ASSISTANT:",
             f"{sysmsg} USER: <image3d>\n{q} ASSISTANT: {a}<|endoftext|>",
             f"<s>{q}</s>", f"<unk> {q}", f"{q}<|endoftext|>{a}", f"<|user|>   {q}<|end|>  \n\n<|assistant|>",
             f"  <|user|>{q}", f"\u2581<|end|>{a}", f"<|placeholder{rng.randint(1, 6)}|>{a}",
             f"<|endoftext|> {a}", f"<|end|><|user|><|assistant|>{a}", f"{a} <|user|> {q} </s>  x"]
    return rng.choice(forms)


EMOJI = ["🙂", "👍🏽", "👩‍⚕️", "🫁", "🫀", "🧠", "🦴", "🇫🇷", "❤️", "☢️", "⚕️", "👨‍👩‍👧", "🏳️‍🌈", "😷", "🔬",
         "1️⃣", "©️", "🦷", "🩻", "🩺"]
CJK = ["中文", "肝脏病变", "肺结节", "胸腔积液", "左肺下叶", "日本語のテキスト", "肝臓に腫瘤があります", "한국어 문장",
       "간에 병변이 있습니다", "繁體中文測試", "ｶﾀｶﾅ", "全角スペース　です", "漢字かな交じり文"]
COMBINING = ["e\u0301", "Me\u0301ne\u0301trier", "n\u0303", "a\u0308\u0304", "Z\u0351\u0352\u0353\u0354a\u0355\u0356",
             "\u0915\u094d\u0937", "\u0e01\u0e34\u0e48", "\u05e9\u05c1\u05b8", "\u0644\u0627", "o\u0336k",
             "Ménétrier", "naïve café", "Ångström", "ﬁnal ﬂow", "Ǆemal"]
RARE = ["\U0001d400\U0001d401", "\U00010000", "\U0010fffd", "\ue000", "\ufffd", "\u2581", "\u2581\u2581x",
        "\u00a0", "\u2028", "\u200b", "\u200d", "\ufeff", "\x01\x02", "\x1b[31m", "\x7f", "\u0085",
        "\U0001f9ec", "𓀀", "ꙮ", "\u3000", "\r\n", "\t\t", "\x0b\x0c"]


def runs(rng):
    out = []
    for ch in "a-*=_#.~0LA xXe/|+<>":
        for n in list(range(1, 21)) + [24, 31, 32, 33, 40, 64]:
            out.append(ch * n)
    for ch in "aL-*":
        for n in (3, 4, 5, 7, 8, 9, 16, 17):
            out.append("x" + ch * n + "y")
            out.append(" " + ch * n)
            out.append(ch * n + " " + ch * n)
    return out


def line_starts(rng):
    out = []
    for letter in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":
        for n in (2, 3, 4, 5, 6):
            out.append("\n" + letter * n)
            out.append("Findings:\n" + letter * n + " consolidation")
    for site in ("LLL", "RLL", "LUL", "RUL", "RML", "AAA", "III", "MMM"):
        out += [f"\n{site}", f"{site}", f"\n\n{site} opacity.", f"x\n{site}\n{site}", f"\t{site}", f"1.\n{site}"]
    return out


def whitespace(rng):
    out = []
    for n in list(range(1, 40)) + [47, 48, 49, 63, 64, 65, 100, 129]:
        out += ["a" + " " * n + "b", " " * n + "lead", "trail" + " " * n, " " * n]
    for n in (1, 2, 3, 8, 17, 33):
        out += ["a" + "\t" * n + "b", "x" + " \t" * n, "\n" * n + "x", "a" + " \n" * n + "b"]
    return out


def mix(rng, pools):
    parts = [rng.choice(rng.choice(pools)) for _ in range(rng.randint(2, 6))]
    seps = ["", " ", "  ", "\n", "\t", "   ", " \n ", "\u2581"]
    return "".join(p + rng.choice(seps) for p in parts)


def main():
    rng = random.Random(20241125)
    strings = [("held-out", s) for s in held_out_lines(rng)]
    strings += [("run", s) for s in runs(rng)]
    strings += [("line-start", s) for s in line_starts(rng)]
    strings += [("whitespace", s) for s in whitespace(rng)]
    strings += [("cjk", s) for s in CJK] + [("cjk", rng.choice(CJK) + rng.choice(CJK)) for _ in range(60)]
    strings += [("emoji", s) for s in EMOJI] + [("emoji", "".join(rng.sample(EMOJI, 3))) for _ in range(60)]
    strings += [("combining", s) for s in COMBINING]
    strings += [("byte-fallback", s) for s in RARE] + [("byte-fallback", "x" + rng.choice(RARE) + "y")
                                                        for _ in range(60)]
    strings += [("chat", chat(rng)) for _ in range(250)]
    strings += [("radiology", radiology(rng)) for _ in range(600)]
    pools = [[s for _, s in strings], EMOJI, CJK, COMBINING, RARE, list(RADIOLOGY["site"])]
    strings += [("mix", mix(rng, pools)) for _ in range(500)]
    strings += [("edge", s) for s in ["", " ", "  ", "\u2581", "<s>", "</s>", "<unk>", "<|endoftext|>", "a", "\n"]]
    seen, unique = set(), []
    for kind, s in strings:
        if s not in seen:
            seen.add(s)
            unique.append([kind, s])

    sp = spm.SentencePieceProcessor(model_file=MODEL)
    slow = {name: SlowLlamaTokenizer(cfg) for name, cfg in CONFIGS.items()}
    ids = [{"sentencepiece": sp.encode(s), **{name: t.encode(s) for name, t in slow.items()}} for _, s in unique]
    with open(os.path.join(DIR, "cases.json"), "w", encoding="utf-8") as f:
        json.dump({"model": "tokenizer.model", "sentencepiece_version": spm.__version__, "configs": CONFIGS,
                   "strings": unique, "ids": ids}, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    kinds = {}
    for kind, _ in unique:
        kinds[kind] = kinds.get(kind, 0) + 1
    print(f"{len(unique)} strings: {kinds}")


if __name__ == "__main__":
    main()
