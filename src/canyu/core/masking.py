"""The one masking helper for every public place (个人信息保护法)."""

from __future__ import annotations

import re


def mask_name(name: str | None) -> str:
    """张三 -> 张*, 欧阳娜娜 -> 欧***, Alice Wang -> A****."""
    name = (name or "").strip()
    if not name:
        return "匿名"
    return name[0] + "*" * max(1, len(name) - 1)


def mask_phone(phone: str | None) -> str:
    """13812345678 -> 138****5678."""
    digits = re.sub(r"\D", "", phone or "")
    if len(digits) < 7:
        return "*" * len(digits)
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def mask_id_number(id_number: str | None) -> str:
    """310115199001011234 -> 3101**********1234: first four and last four kept."""
    value = (id_number or "").strip().upper()
    if len(value) <= 8:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def mask_email(email: str | None) -> str:
    """zhang.san@example.com -> z***@example.com."""
    local, _, domain = (email or "").partition("@")
    if not domain:
        return "***"
    return (local[:1] or "*") + "***@" + domain


def mask_address(address: str | None, district: str | None = None) -> str:
    """An address is shown only to its 街镇."""
    if district:
        return district
    from canyu.core.districts import district_of

    return district_of(address or "") or "浦东新区"
