#!/usr/bin/python3
"""A 30,522-entry BERT WordPiece vocabulary, its tokenizer.json, and the slow BertTokenizer's ids for the test
strings (tests/data/tokenizer/bert-30k).

vocab.txt: [PAD] [UNK] [CLS] [SEP] [MASK], then the 1,500 most frequent characters and their "##" forms, then
the most frequent words and word endings ("##" + the last 1..6 characters), alternating, of the text that
train_phi3_model.py reads (the first 2 KiB of each /usr/share/doc file and of every fourth English manual page,
every translated page; uncased: lower-cased, accents stripped, as the uncased tokenizer sees them), up to 30,522
entries, the size of bert-base-uncased.

tokenizer.json.gz: what transformers' BertConverter makes of it for do_lower_case: BertNormalizer (clean_text,
handle_chinese_chars, lowercase, strip_accents unset → follows lowercase), BertPreTokenizer, WordPiece ("##",
100 characters per word), [CLS] $A [SEP].

cases.json: the strings of phi3-32k/cases.json and, per string, "bert": the word-piece ids (no [CLS]/[SEP]) of
transformers' slow BertTokenizer; "differences": strings where the slow tokenizer and Hugging Face tokenizers'
BertNormalizer / BertPreTokenizer disagree (found by running both on "a" + c + "b" for every code point of planes
0-2 and 14-16), one or more per kind, with the slow tokenizer's ids. All ids are those (BasicTokenizer + WordpieceTokenizer of transformers 4.4x, written out below as
that code does it, with this Python's unicodedata; transformers itself is not packaged by Debian).
Run from the repository root:  /usr/bin/python3 scripts/tokenizer/make_bert_cases.py
"""
import collections
import gzip
import json
import os
import re
import unicodedata

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DATA = os.path.join(ROOT, "tests", "data", "tokenizer")
OUT = os.path.join(DATA, "bert-30k")
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
SIZE = 30522


def _is_whitespace(char):
    if char in (" ", "\t", "\n", "\r"):
        return True
    return unicodedata.category(char) == "Zs"


def _is_control(char):
    if char in ("\t", "\n", "\r"):
        return False
    return unicodedata.category(char).startswith("C")


def _is_punctuation(char):
    cp = ord(char)
    if (33 <= cp <= 47) or (58 <= cp <= 64) or (91 <= cp <= 96) or (123 <= cp <= 126):
        return True
    return unicodedata.category(char).startswith("P")


def _is_chinese_char(cp):
    return ((0x4E00 <= cp <= 0x9FFF) or (0x3400 <= cp <= 0x4DBF) or (0x20000 <= cp <= 0x2A6DF)
            or (0x2A700 <= cp <= 0x2B73F) or (0x2B740 <= cp <= 0x2B81F) or (0x2B820 <= cp <= 0x2CEAF)
            or (0xF900 <= cp <= 0xFAFF) or (0x2F800 <= cp <= 0x2FA1F))


class BasicTokenizer:
    """transformers' BasicTokenizer(do_lower_case=True, tokenize_chinese_chars=True, strip_accents=None)."""

    def __init__(self, never_split):
        self.never_split = set(never_split)

    def tokenize(self, text):
        text = self._clean_text(text)
        text = self._tokenize_chinese_chars(text)
        unicode_normalized_text = unicodedata.normalize("NFC", text)
        orig_tokens = unicode_normalized_text.strip().split()
        split_tokens = []
        for token in orig_tokens:
            if token not in self.never_split:
                token = token.lower()
                token = self._run_strip_accents(token)
            split_tokens.extend(self._run_split_on_punc(token))
        return " ".join(split_tokens).strip().split()

    def _run_strip_accents(self, text):
        text = unicodedata.normalize("NFD", text)
        return "".join(c for c in text if unicodedata.category(c) != "Mn")

    def _run_split_on_punc(self, text):
        if text in self.never_split:
            return [text]
        output, start_new_word = [], True
        for char in text:
            if _is_punctuation(char):
                output.append([char])
                start_new_word = True
            else:
                if start_new_word:
                    output.append([])
                start_new_word = False
                output[-1].append(char)
        return ["".join(x) for x in output]

    def _tokenize_chinese_chars(self, text):
        return "".join(f" {c} " if _is_chinese_char(ord(c)) else c for c in text)

    def _clean_text(self, text):
        output = []
        for char in text:
            cp = ord(char)
            if cp == 0 or cp == 0xFFFD or _is_control(char):
                continue
            output.append(" " if _is_whitespace(char) else char)
        return "".join(output)


def wordpiece(token, vocab):
    """transformers' WordpieceTokenizer (greedy longest match first, 100 characters per word)."""
    chars = list(token)
    if len(chars) > 100:
        return ["[UNK]"]
    sub_tokens, start = [], 0
    while start < len(chars):
        end, cur = len(chars), None
        while start < end:
            substr = "".join(chars[start:end])
            if start > 0:
                substr = "##" + substr
            if substr in vocab:
                cur = substr
                break
            end -= 1
        if cur is None:
            return ["[UNK]"]
        sub_tokens.append(cur)
        start = end
    return sub_tokens


def slow_bert_ids(text, vocab, basic):
    """PreTrainedTokenizer.tokenize for do_lower_case: every character outside the special tokens lower-cased on
    its own (the regex "(specials)|(.+?)", which leaves line breaks alone), the special tokens split out (the
    added-token trie), then BertTokenizer._tokenize (BasicTokenizer, WordpieceTokenizer) on each piece."""
    pattern = "(" + "|".join(re.escape(t) for t in SPECIAL) + r")|(.+?)"
    text = re.sub(pattern, lambda m: m.groups()[0] or m.groups()[1].lower(), text)
    ids, pos = [], 0
    while pos < len(text):
        hits = [(text.find(t, pos), t) for t in SPECIAL if text.find(t, pos) >= 0]
        at, token = min(hits, key=lambda h: (h[0], -len(h[1]))) if hits else (len(text), None)
        for word in basic.tokenize(text[pos:at]):
            ids.extend(vocab[p] for p in wordpiece(word, vocab))
        if token is None:
            break
        ids.append(vocab[token])
        pos = at + len(token)
    return ids


def build_vocab(lines):
    basic = BasicTokenizer([])
    words, chars = collections.Counter(), collections.Counter()
    for line in lines:
        for word in basic.tokenize(line):
            words[word] += 1
            chars.update(word)
    vocab = list(SPECIAL)
    top_chars = [c for c, _ in chars.most_common(1500)]
    vocab += top_chars + ["##" + c for c in top_chars]
    endings = collections.Counter()
    for word, n in words.items():
        for k in range(1, min(6, len(word) - 1) + 1):
            endings["##" + word[-k:]] += n
    seen = set(vocab)
    ranked = [w for w, _ in words.most_common() if len(w) > 1] 
    for piece in [p for pair in zip(ranked, [e for e, _ in endings.most_common()]) for p in pair] + ranked:
        if len(vocab) >= SIZE:
            break
        if piece not in seen:
            seen.add(piece)
            vocab.append(piece)
    return vocab


def tokenizer_json(vocab):
    def special(i, content):
        return {"id": i, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
                "normalized": False, "special": True}
    ids = {t: i for i, t in enumerate(vocab)}
    return {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [special(ids[t], t) for t in SPECIAL],
        "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                       "strip_accents": None, "lowercase": True},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {"type": "TemplateProcessing",
                           "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                                      {"Sequence": {"id": "A", "type_id": 0}},
                                      {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
                           "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                                    {"Sequence": {"id": "A", "type_id": 0}},
                                    {"SpecialToken": {"id": "[SEP]", "type_id": 0}},
                                    {"Sequence": {"id": "B", "type_id": 1}},
                                    {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
                           "special_tokens": {t: {"id": t, "ids": [ids[t]], "tokens": [t]} for t in ("[CLS]", "[SEP]")}},
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": ids},
    }


# Where the slow BertTokenizer (Python 3.11, Unicode 14.0) and tokenizers 0.22 disagree, by kind.
DIFFERENCES = [
    ("unassigned", "a\u0378b"), ("unassigned", "liver\U0010ffff lesion"), ("unassigned", "\ufdd0 cyst"),
    ("mark-newer-than-tokenizers", "a\u07fdb"), ("format-newer-than-tokenizers", "a\U000110cdb"),
    ("punctuation-newer-than-tokenizers", "a\u0a76b"), ("punctuation-newer-than-tokenizers", "a\u2e43b"),
    ("category-changed", "a\u166db"), ("category-changed", "a\u1734b"),
    ("cjk-extension-e", "a\U0002b820b"),
    ("unicode-15-16", "a\u1c89b"), ("unicode-15-16", "a\ua7cbb"), ("unicode-15-16", "a\U000105c0b"),
    ("unicode-15-16", "a\u2427b"),
]


def main():
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        "cases", os.path.join(os.path.dirname(os.path.abspath(__file__)), "make_phi3_cases.py"))
    cases = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cases)
    os.makedirs(OUT, exist_ok=True)
    spec = importlib.util.spec_from_file_location(
        "train", os.path.join(os.path.dirname(os.path.abspath(__file__)), "train_phi3_model.py"))
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    files = list(train.doc_files()) + list(train.man_files(""))[::4]
    files += [p for lang in train.MAN_TRANSLATIONS for p in train.man_files(lang)]
    lines = [line for path in files for line in (train.read_text(path, 2 << 10) or "").splitlines()]
    vocab = build_vocab(lines)
    with open(os.path.join(OUT, "vocab.txt"), "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(vocab) + "\n")
    data = json.dumps(tokenizer_json(vocab), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    with open(os.path.join(OUT, "tokenizer.json.gz"), "wb") as f:
        with gzip.GzipFile(fileobj=f, mode="wb", mtime=0) as z:
            z.write(data)

    with open(os.path.join(DATA, "phi3-32k", "cases.json"), encoding="utf-8") as f:
        strings = json.load(f)["strings"]
    ids = {t: i for i, t in enumerate(vocab)}
    basic = BasicTokenizer(SPECIAL)
    with open(os.path.join(OUT, "cases.json"), "w", encoding="utf-8") as f:
        json.dump({"vocab": "vocab.txt", "unicodedata_version": unicodedata.unidata_version,
                   "strings": "../phi3-32k/cases.json", "bert": [slow_bert_ids(s, ids, basic) for _, s in strings],
                   "differences": [[kind, text, slow_bert_ids(text, ids, basic)] for kind, text in DIFFERENCES]},
                  f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    print(f"{len(vocab)} vocabulary entries, {len(strings)} strings, unicodedata {unicodedata.unidata_version}")


if __name__ == "__main__":
    main()
