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


def _is_latin(ch: str) -> bool:
    return unicodedata.name(ch, "").startswith("LATIN ")


def _bare(name: str) -> str:
    """
    The skeleton of C{name}, case kept.  In a name whose letters are all
    Latin (once look-alikes are mapped), combining marks are dropped: a dot
    or a Thai tone mark on a Latin letter is all but invisible, so
    C{zo\u0307e} and C{alice\u0e47} are C{zoe} and C{alice}.  Names in
    other scripts keep their marks, which change their letters.
    """
    mapped = skeleton(unicodedata.normalize("NFKC", name))
    letters = [c for c in mapped if unicodedata.category(c)[0] == "L"]
    if letters and all(map(_is_latin, letters)):
        mapped = "".join(c for c in mapped if unicodedata.category(c)[0] != "M")
    return unicodedata.normalize("NFKC", mapped)


def lookalike_key(name: str) -> str:
    """The skeleton of C{name} (marks dropped in Latin names), then case folded (as Ergo does)."""
    return _bare(name).casefold()


@functools.lru_cache(maxsize=65536)
def look_keys(name: str) -> frozenset[str]:
    """
    What C{name} looks like, as the keys under which look-alikes meet: the
    folded skeleton of the name as written (C{aIice} looks like C{alice}: a
    capital I is an l) and of its case-folded form (C{аlice} looks like
    C{ALICE} folded); and, case kept, the skeletons of the name as written
    and in capitals (C{ALlCE}, with a small l, looks like C{ALICE}, which is
    C{alice}; C{ail} in capitals does not look like C{all}).  A name is
    taken if one of its keys is another's; with L{chat.names.fold}, that
    makes C{ALICE}, C{aIice}, C{ALlCE} and C{аlice} one name.
    """
    nfkc = unicodedata.normalize("NFKC", name)
    return frozenset((lookalike_key(nfkc), lookalike_key(nfkc.casefold()),
                      "=" + _bare(nfkc), "=" + _bare(nfkc.upper())))
