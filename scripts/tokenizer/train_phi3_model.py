#!/usr/bin/python3
"""Train the 32,000-piece test tokenizer (tests/data/tokenizer/phi3-32k/tokenizer.model).

A SentencePiece BPE model with the trainer settings of the Llama / Phi-3 tokenizer.model (BPE, byte fallback,
digits split, whitespace-only pieces up to 16 characters, identity normalizer, dummy prefix, no whitespace
removal, unk/bos/eos = 0/1/2, no pad), trained on text that every Debian machine has:

  - /usr/share/doc: plain-text, Markdown and reStructuredText documentation and changelogs (.txt, .md, .rst,
    README*, changelog*, NEWS*, also gzip-compressed), sorted by path, the first 4 KiB of each;
  - /usr/share/man: every fourth English manual page (man1..man8, groff source, sorted by path), the first 2 KiB
    of each, and every translated page (de, fr, ja, ko, ru, uk, zh_CN, zh_TW), the first 16 KiB of each;
  - this repository's own docs/*.md and README.md.

The text itself is not committed, only the model (its 32,000 pieces and scores). Needs Debian's
python3-sentencepiece (0.1.97). Run from the repository root:

  /usr/bin/python3 scripts/tokenizer/train_phi3_model.py [OUT_DIR]

It writes OUT_DIR/tokenizer.model (default tests/data/tokenizer/phi3-32k) and prints the corpus statistics that
README.md there records.
"""
import glob
import gzip
import hashlib
import os
import sys
import tempfile

import sentencepiece as spm

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "tests", "data", "tokenizer", "phi3-32k")
DOC_NAMES = (".txt", ".md", ".rst", ".txt.gz", ".md.gz", ".rst.gz")
DOC_PREFIXES = ("readme", "changelog", "news")
MAN_TRANSLATIONS = ("de", "fr", "ja", "ko", "ru", "uk", "zh_CN", "zh_TW")


def read_text(path, limit):
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            data = f.read(limit)
    except (OSError, EOFError):
        return None
    if b"\0" in data:
        return None
    return data.decode("utf-8", errors="ignore")


def doc_files():
    for path in sorted(glob.glob("/usr/share/doc/**/*", recursive=True)):
        name = os.path.basename(path).lower()
        if os.path.isfile(path) and not os.path.islink(path) and (
                name.endswith(DOC_NAMES) or name.startswith(DOC_PREFIXES)):
            yield path


def man_files(lang):
    base = os.path.join("/usr/share/man", lang) if lang else "/usr/share/man"
    for section in range(1, 9):
        for path in sorted(glob.glob(os.path.join(base, f"man{section}", "*"))):
            if os.path.isfile(path) and not os.path.islink(path):
                yield path


def repo_files():
    yield os.path.join(ROOT, "README.md")
    yield from sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))


def main():
    os.makedirs(OUT, exist_ok=True)
    digest = hashlib.sha256()
    counts = {"doc": 0, "man": 0, "repo": 0}
    chars = 0
    with tempfile.TemporaryDirectory() as tmp:
        corpus = os.path.join(tmp, "corpus.txt")
        with open(corpus, "w", encoding="utf-8") as out:
            english_man = list(man_files(""))[::4]
            translated_man = [p for lang in MAN_TRANSLATIONS for p in man_files(lang)]
            for kind, files, limit in (("doc", doc_files(), 4 << 10), ("man", english_man, 2 << 10),
                                       ("man", translated_man, 16 << 10), ("repo", repo_files(), 1 << 20)):
                for path in files:
                    text = read_text(path, limit)
                    if not text:
                        continue
                    counts[kind] += 1
                    for line in text.splitlines():
                        # SentencePiece reads one sentence per line; blank lines carry nothing.
                        if line.strip():
                            out.write(line + "\n")
                            chars += len(line)
                            digest.update(line.encode("utf-8"))
        spm.SentencePieceTrainer.train(
            input=corpus, model_prefix=os.path.join(tmp, "sp"), vocab_size=32000, model_type="bpe",
            byte_fallback=True, split_digits=True, allow_whitespace_only_pieces=True,
            remove_extra_whitespaces=False, normalization_rule_name="identity", add_dummy_prefix=True,
            max_sentencepiece_length=16, character_coverage=0.99995, unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
            max_sentence_length=16384, num_threads=2, minloglevel=2)
        os.replace(os.path.join(tmp, "sp.model"), os.path.join(OUT, "tokenizer.model"))
    print(f"files: {counts}; {chars} characters; corpus sha256 {digest.hexdigest()}")
    print(f"wrote {os.path.join(OUT, 'tokenizer.model')}")


if __name__ == "__main__":
    main()
