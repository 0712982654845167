"""The language lists of the data sets (ISO 639-1 codes, as each data set spells them), in one place.

Notebooks, configs and modules name these constants instead of copying the lists.
"""

XQUAD_LANGS = ("ar", "de", "el", "en", "es", "hi", "ro", "ru", "th", "tr", "vi", "zh")
"""The 12 XQuAD languages."""

XQUAD_TARGET_LANGS = tuple(lang for lang in XQUAD_LANGS if lang != "en")
"""The 11 non-English XQuAD languages (targets of translation and augmentation)."""

XOR_LANGS = ("ar", "bn", "fi", "ja", "ko", "ru", "te")
"""The 7 XOR-TyDi languages."""

MKQA_LANGS = (
    "ar", "da", "de", "en", "es", "fi", "fr", "he", "hu", "it", "ja", "km", "ko",
    "ms", "nl", "no", "pl", "pt", "ru", "sv", "th", "tr", "vi", "zh_cn", "zh_hk", "zh_tw",
)  # fmt: skip
"""The 26 MKQA language codes as MKQA spells them (ISO 639-1; Chinese: zh_cn, zh_hk, zh_tw)."""

MKQA_TARGET_LANGS = tuple(lang for lang in MKQA_LANGS if lang != "en")
"""The 25 non-English MKQA languages."""
