"""Free text that compresses like a contact centre's: many words, few repeats.

A fixed handful of paragraphs repeated in every e-mail deflates about 15x, which flatters every
compressor; real correspondence deflates 3-4x as plain text. This module draws sentences from a
Zipf-distributed lexicon of a few thousand words (common English words, then made-up ones for the
long tail: names of products, places and people) with numbers, amounts and dates in between, so
that the interaction JSON deflates about 4-6x at level 6 (docs/benchmarks.md § The data).

The lexicon and the sentence pool depend on the seed only (built once per seed and kept); the
draws take the caller's ``random.Random``, so the same seed gives the same text.
"""

from __future__ import annotations

import random
from functools import cache
from itertools import accumulate

__all__ = ["Prose"]

_COMMON_WORDS = (
    "the of and to a in is it you that he was for on are with as I his they be at one have this "
    "from or had by not but what some we can out other were all there when up use your how said "
    "an each she which do their time if will way about many then them write would like so these "
    "her long make thing see him two has look more day could go come did number sound no most "
    "people my over know water than call first who may down side been now find any new work part "
    "take get place made live where after back little only round man year came show every good me "
    "give our under name very through just form sentence great think say help low line differ "
    "turn cause much mean before move right boy old too same tell does set three want air well "
    "also play small end put home read hand port large spell add even land here must big high "
    "such follow act why ask men change went light kind off need house picture try us again "
    "animal point mother world near build self earth father head stand own page should country "
    "found answer school grow study still learn plant cover food sun four between state keep eye "
    "never last let thought city tree cross farm hard start might story saw far sea draw left late "
    "run while press close night real life few north open seem together next white children begin "
    "order parcel delivery invoice refund account payment card bank transfer contract subscription "
    "plan upgrade cancel address phone number email password login error problem issue ticket case "
    "agent customer service support manager supervisor callback message chat call voicemail "
    "please thank thanks regards hello dear sorry unfortunately however therefore because "
    "yesterday today tomorrow week month morning afternoon evening Monday Tuesday Wednesday "
    "Thursday Friday Saturday Sunday January February March April May June July August September "
    "October November December received sent shipped delayed damaged missing wrong charged twice "
    "confirm confirmation check update status tracking warehouse courier store shop product item "
    "price discount offer voucher coupon balance statement receipt copy attached document form"
)
_ONSET_LETTERS = "b c d f g h j k l m n p r s t v w z br ch cl dr fl gr kr pl pr sh st th tr"
_COMMON, _ONSETS = _COMMON_WORDS.split(), _ONSET_LETTERS.split()
_VOWELS = ("a", "e", "i", "o", "u", "ai", "ea", "ee", "ie", "oo", "ou", "y")
_CODAS = ("", "", "", "n", "r", "s", "t", "l", "m", "nd", "nt", "rk", "st", "ck", "ng", "x")
# Steep enough that the common words dominate, as they do in real mail: the JSON deflates ~4.5x.
_ZIPF, _ZIPF_OFFSET = 1.1, 3
_PUNCT = (".", ".", ".", ".", ".", "?", "!", ",")


class Prose:
    """A lexicon and a pool of sentences drawn from ``seed``; text is drawn from the pool.

    Args:
        seed: What the lexicon and the pool depend on.
        words: Size of the lexicon (common words first, made-up words after).
        phrases_count: How many phrases of 2-5 words the sentences are made of.
        sentences: Size of the pool; far more text than deflate's 32 KiB window holds.
    """

    @staticmethod
    @cache
    def of(seed: int) -> Prose:
        """The pool of ``seed``, built once per process (about half a second)."""
        return Prose(seed)

    def __init__(
        self, seed: int, *, words: int = 12_000, phrases_count: int = 6_000, sentences: int = 40_000
    ) -> None:
        rng = random.Random(f"ucs-prose:{seed}")
        lexicon = list(_COMMON)
        seen = set(lexicon)
        while len(lexicon) < words:
            word = "".join(
                rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS)
                for _ in range(rng.choice((1, 2, 2, 3, 3, 4)))
            )
            if word not in seen:
                seen.add(word)
                lexicon.append(word.capitalize() if rng.random() < 0.15 else word)
        weights = list(
            accumulate(1 / (rank + _ZIPF_OFFSET) ** _ZIPF for rank in range(len(lexicon)))
        )
        # Mail repeats phrases ("thank you for your", "I would like to"), not only words.
        phrases = [
            " ".join(rng.choices(lexicon, cum_weights=weights, k=rng.randint(2, 5)))
            for _ in range(phrases_count)
        ]
        ranks = list(accumulate(1 / (rank + 4) for rank in range(phrases_count)))
        self._sentences = [_sentence(rng, phrases, ranks) for _ in range(sentences)]

    def sentences(self, rng: random.Random, count: int) -> str:
        """``count`` sentences of the pool, as one line."""
        return " ".join(rng.choices(self._sentences, k=count))

    def paragraphs(self, rng: random.Random, count: int) -> list[str]:
        """``count`` paragraphs of 1-6 sentences each."""
        return [self.sentences(rng, rng.randint(1, 6)) for _ in range(count)]

    def sentence(self, rng: random.Random) -> str:
        """One sentence: an SMS, a comment, a chat line."""
        return rng.choice(self._sentences)


def _sentence(rng: random.Random, phrases: list[str], weights: list[float]) -> str:
    words = rng.choices(phrases, cum_weights=weights, k=rng.randint(2, 6))
    for _ in range(rng.choices((0, 1, 2), (60, 30, 10))[0]):
        words.insert(rng.randrange(len(words) + 1), _figure(rng))
    words[0] = words[0].capitalize()
    return " ".join(words) + rng.choice(_PUNCT)


def _figure(rng: random.Random) -> str:
    kind = rng.randrange(6)
    if kind == 0:
        return f"#{rng.randrange(10**5, 10**9)}"
    if kind == 1:
        return f"{rng.randrange(1, 2000)}.{rng.randrange(100):02d} EUR"
    if kind == 2:
        return f"{rng.randrange(1, 29):02d}/{rng.randrange(1, 13):02d}/202{rng.randrange(6)}"
    if kind == 3:
        return f"+{rng.randrange(1, 99)} {rng.randrange(10**6, 10**9)}"
    if kind == 4:
        return f"{rng.randrange(1, 24)}:{rng.randrange(60):02d}"
    return str(rng.randrange(1, 500))
