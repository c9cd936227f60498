"""Masking of people's data: no page, export or message shows a full ID number or phone."""

from __future__ import annotations


def mask_name(name: str) -> str:
    """Keep the family name only: 张三丰 → 张**; used wherever a deduction is shown in public."""
    if not name:
        return ""
    return name[0] + "*" * max(1, len(name) - 1)


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
