"""Prompt hashing in linear time gives the published (v1) hash: the same matches as the
spec's patterns applied literally, on adversarial strings; and a 1 MB prompt built to make
those patterns backtrack hashes within a few seconds (the figures: bench/prompt_hash.py)."""

from __future__ import annotations

import hashlib
import random
import re
import unicodedata

import pytest

import ingest.prompts as prompts
from ingest.prompts import MASKS, normalise_prompt, template_hash

LITERAL = {name: (re.compile(pattern, flags), repl) for name, pattern, repl, flags in MASKS}


def literal_normalise(text: str) -> str:
    """The published procedure, step by step, with Python's re (quadratic on some inputs)."""
    for name, _, _, _ in MASKS:
        pattern, repl = LITERAL[name]
        text = pattern.sub(repl, text)
    text = unicodedata.normalize("NFKC", text).casefold()
    return re.sub(r"\s+", " ", text).strip()


# Pieces that open, close or continue every pattern, and break them
PIECES = [
    "a",
    "Z",
    "1",
    "0",
    "9",
    "f",
    "é",
    "٣",
    "_",
    ".",
    ",",
    "@",
    "%",
    "+",
    "-",
    "−",
    "/",
    "=",
    ":",
    ")",
    "]",
    "<",
    " ",
    "\n",
    "\t",
    "\u3000",
    "\x1c",
    '"',
    "'",
    "“",
    "”",
    "‘",
    "’",
    "`",
    "```",
    "www.",
    "http://",
    "HTTPS://",
    "ftp://",
    "a@b.cd",
    "x@",
    "@y.z",
    ".@",
    "‘‘‘",
    "“““",
    "1,000",
    ",000",
    "1.5e-3",
    "12345678-1234-",
    "deadbeefcafe",
    "A1B2C3D4E5F6G7",
    "ＡＢ",
    "ﬁ",
    "\x00",
]


def random_text(rng: random.Random, pieces: int) -> str:
    return "".join(rng.choice(PIECES) for _ in range(rng.randint(0, pieces)))


@pytest.mark.parametrize("seed", range(8))
def test_each_step_finds_the_literal_patterns_matches(seed):
    rng = random.Random(seed)
    for _ in range(3000):
        text = random_text(rng, 30)
        for name, _, _, _ in MASKS:
            pattern, repl = LITERAL[name]
            assert prompts._STEPS[name](text) == pattern.sub(repl, text), (name, text)


@pytest.mark.parametrize("seed", range(4))
def test_the_normalised_text_is_the_published_one(seed):
    rng = random.Random(100 + seed)
    for _ in range(2000):
        text = random_text(rng, 60)
        assert normalise_prompt(text) == literal_normalise(text), text


@pytest.mark.parametrize(
    "text",
    [
        "a@b.c%x@y.z",  # a match starts where the previous one ended, inside a run
        "a@b.c.@e.f",
        "a@b.c.d@e.f",  # the literal pattern never shortens a match to fit the next one
        "x.y@z",
        "mail a@b.co, c@d.co and e@f",
        "‘a‘b’x ‘c’",  # the first ‘ fails (its ’ touches a word), the second matches
        "“a “b” c“",
        "don't 'quote' it's",
        "‘‘‘‘‘‘‘‘‘‘‘‘‘‘‘‘‘‘‘‘’ ‘‘‘‘‘‘‘‘‘‘‘‘‘‘‘‘‘‘’x\n‘ok’",
        "WWW.EXAMPLE.COM/x. and Http://a.b/(c)",
        "x" * 12 + "1 " + "-" * 30 + " 123e4567-e89b-12d3-a456-426614174000",
        "−3 and -4 and a-5 and (6) and [-7]",
    ],
)
def test_tricky_cases_agree_with_the_literal_patterns(text):
    assert normalise_prompt(text) == literal_normalise(text)


def test_the_published_vectors_are_unchanged():
    """v1 hashes did not change: the README's test vectors and a few fixed values."""
    assert template_hash(prompts._EXAMPLES[0]) == "48cc9141f9960f30342112b6a9d19902"
    assert template_hash(prompts._EXAMPLES[1]) == "69f65f3ef87c1c2ba22ad21b91d0023b"
    assert template_hash("Hello, World 42!") == hashlib.sha256(b"hello, world <num>!").hexdigest()[:32]


def _fill(unit: str, size: int = 1 << 20) -> str:
    return (unit * (size // len(unit) + 1))[:size]


ADVERSARIAL = {
    "one word without @": (_fill("a"), "<id>"),
    "local part characters without @": (_fill("1.a_"), None),
    "unclosed curly double quotes": (_fill("“"), "“" * (1 << 20)),
    "unclosed curly single quotes": (_fill("‘ "), None),
    "every attack at once": (_fill("‘“a.b_c-d%e+f@"), None),
}


@pytest.mark.timeout(10)
@pytest.mark.parametrize("shape", list(ADVERSARIAL))
def test_a_one_megabyte_adversarial_prompt_hashes(shape):
    text, expected = ADVERSARIAL[shape]
    normalised = normalise_prompt(text)
    if expected is not None:
        assert normalised == expected
    assert re.fullmatch(r"[0-9a-f]{32}", template_hash(text))
    # the same shape, small enough for the literal patterns, gives the literal result
    small = text[:3000]
    assert normalise_prompt(small) == literal_normalise(small)
