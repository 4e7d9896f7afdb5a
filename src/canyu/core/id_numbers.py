"""居民身份证号码 (GB 11643-1999): checked before anything is stored.

Eighteen characters: a six-digit address code, the birth date (YYYYMMDD), a three-digit
sequence and a check character computed with ISO 7064 MOD 11-2 (``X`` stands for ten). The
first-generation fifteen-digit numbers are no longer valid and are refused with a message
saying so. The number is never logged, never shown whole: ``core.masking.mask_id_number``
shows it, ``core.security.encrypt`` stores it.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from typing import Any

from canyu.core import clock
from canyu.core.errors import DomainError

#: Province-level codes of GB/T 2260, and 81/82/83 of the residence permits of Hong Kong,
#: Macao and Taiwan residents (the same number format).
PROVINCES = frozenset(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 "
    "50 51 52 53 54 61 62 63 64 65 71 81 82 83".split()
)
#: ISO 7064 MOD 11-2: the weight of position i (0-based, from the left) is 2^(17-i) mod 11.
WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))
#: The check character for each remainder of the weighted sum modulo 11.
CHECK_CHARACTERS = "10X98765432"
_SHAPE = re.compile(r"^\d{17}[\dX]$")
_SPACES = re.compile(r"\s+")


def check_character(first17: str) -> str:
    """The 18th character of a number whose first 17 digits are ``first17``."""
    if not re.fullmatch(r"\d{17}", first17):
        raise ValueError("seventeen digits expected")
    return CHECK_CHARACTERS[sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True)) % 11]


def normalize_id_number(value: Any, *, field: str = "id_number") -> str:
    """The number as stored (18 characters, ``X`` uppercase), or DomainError (422) with a
    Chinese message that says what is wrong. Full-width digits and spaces are accepted."""
    text = _SPACES.sub("", unicodedata.normalize("NFKC", str(value or ""))).upper()
    if not text:
        raise DomainError("id_number_required", "请填写居民身份证号码。", field=field)
    if re.fullmatch(r"\d{15}", text):
        raise DomainError(
            "invalid_id_number",
            "15 位的第一代身份证号码已停止使用，请填写 18 位居民身份证号码。",
            field=field,
        )
    if not _SHAPE.match(text):
        raise DomainError(
            "invalid_id_number",
            "居民身份证号码应为 18 位：前 17 位是数字，最后一位是数字或 X。",
            field=field,
        )
    if text[:2] not in PROVINCES:
        raise DomainError(
            "invalid_id_number", "身份证号码的前两位不是有效的地区代码，请核对。", field=field
        )
    try:
        born = date(int(text[6:10]), int(text[10:12]), int(text[12:14]))
    except ValueError:
        born = None
    if born is None or born.year < 1800 or born > clock.today():
        raise DomainError(
            "invalid_id_number",
            "身份证号码中的出生日期（第 7 至 14 位）无效，请核对。",
            field=field,
        )
    if check_character(text[:17]) != text[17]:
        raise DomainError(
            "invalid_id_number",
            "身份证号码的校验位（最后一位）不正确，请核对是否有输错的数字。",
            field=field,
        )
    return text
