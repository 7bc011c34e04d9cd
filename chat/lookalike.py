"""
Names that look alike: Unicode's confusable skeletons (UTS #39, section 4),
so that C{аlice} with a Cyrillic а, C{ɑlice} or C{aIice} cannot pass for
C{alice}.  The data is Unicode's confusables.txt, as packaged (and kept up
to date) by confusable_homoglyphs.
"""

from __future__ import annotations

import functools
import unicodedata

from confusable_homoglyphs import confusables  # type: ignore[import-untyped]


@functools.cache
def _prototypes() -> dict[str, str]:
    """
    Each confusable character and what it is taken for.  The package keeps
    every line of confusables.txt both ways (source to prototype and back);
    a source is a single character with exactly one entry, and a prototype
    is never a source, so the direction is clear except for a source that is
    its prototype's only one: such a pair is then mapped to the smaller of
    the two, which keeps the skeletons of both equal, as Unicode's would be.
    """
    data: dict[str, list[dict[str, str]]] = confusables.confusables_data
    mapping: dict[str, str] = {}
    for char, entries in data.items():
        if len(char) != 1 or len(entries) != 1:
            continue
        target = entries[0]["c"]
        if len(target) > 1 or len(data.get(target, ())) > 1 or char > target:
            mapping[char] = target
    return mapping


def skeleton(text: str) -> str:
    """UTS #39's skeleton: NFD, each character replaced by its prototype, NFD again."""
    prototypes = _prototypes()
    mapped = "".join(prototypes.get(c, c) for c in unicodedata.normalize("NFD", text))
    return unicodedata.normalize("NFD", mapped)


def lookalike_key(name: str) -> str:
    """The skeleton of C{name}, then case folded (as Ergo does)."""
    return unicodedata.normalize("NFKC", skeleton(unicodedata.normalize("NFKC", name))).casefold()


@functools.lru_cache(maxsize=65536)
def look_keys(name: str) -> frozenset[str]:
    """
    What C{name} looks like, as the keys under which look-alikes meet: the
    name's own skeleton (C{aIice} looks like C{alice}: a capital I is an l)
    and its case-folded form's (C{аlice} looks like C{ALICE} folded).  A
    name is taken if one of its keys is another's; with
    L{chat.names.fold}, that makes C{ALICE}, C{aIice} and C{аlice} one name.
    """
    folded = unicodedata.normalize("NFKC", name).casefold()
    return frozenset((lookalike_key(name), lookalike_key(folded)))
