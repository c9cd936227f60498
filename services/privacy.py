"""Masking of people's data: no page, export or message shows a full ID number or phone."""

from __future__ import annotations

NAME_MASK = "**"


def mask_name(name: str) -> str:
    """Keep the first character and add two asterisks, whatever the length: 张三丰 → 张**, 吴一 → 吴**, "" → **."""
    # Always two asterisks: one asterisk per hidden character would tell how long the name is.
    return name.strip()[:1] + NAME_MASK


def mask_id(id_number: str) -> str:
    """First 4 and last 4 digits of an ID number: 3308**********1234."""
    if len(id_number) <= 8:
        return "*" * len(id_number)
    return id_number[:4] + "*" * (len(id_number) - 8) + id_number[-4:]


def mask_phone(phone: str) -> str:
    """139****5678."""
    if len(phone) < 7:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]
