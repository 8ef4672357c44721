"""Text an operator types that is shown again: which of its characters would not be seen."""

import unicodedata

# Characters a name or term may not hold: control characters (a newline lets a name forge a line of
# a listing, an escape rewrites the terminal), invisible format characters (bidirectional
# overrides, zero-width spaces: a name that reads as another), line and paragraph separators, and
# lone surrogates (which PostgreSQL cannot store).
UNPRINTABLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
# Unicode's Default_Ignorable_Code_Point ranges (DerivedCoreProperties.txt), which a renderer
# shows as nothing. Most are format characters (Cf) already, but not all: the Hangul fillers
# U+3164 and U+FFA0 are letters, the variation selectors and U+034F marks, so a name made of
# them passed every other check and listed as blank. The blank Braille pattern, U+2800, is a
# symbol (So) no property marks, drawn as a space: a name of it listed as blank too.
SHOWN_AS_NOTHING = (
    (0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160), (0x17B4, 0x17B5),
    (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x206F), (0x3164, 0x3164),
    (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A), (0xE0000, 0xE0FFF), (0x2800, 0x2800),
)  # fmt: skip


def _shown_as_nothing(character: str) -> bool:
    code = ord(character)
    return any(low <= code <= high for low, high in SHOWN_AS_NOTHING)


def unprintable(text: str) -> list[str]:
    """The characters of ``text`` a name or term may not hold, each once, in order."""
    return list(
        dict.fromkeys(c for c in text if unicodedata.category(c) in UNPRINTABLE_CATEGORIES or _shown_as_nothing(c))
    )
