"""Masking of people's data: no page, export or message shows a full ID number or phone."""

from __future__ import annotations

import re

NAME_MASK = "**"
# An ID number (18 characters, the last a digit or X) or a mobile number (11 digits from 1[3-9]) that
# someone typed into a description: not next to other digits, so amounts and dates are left alone.
_ID_IN_TEXT = re.compile(r"(?<![0-9])[1-9][0-9]{16}[0-9Xx](?![0-9A-Za-z])")
_PHONE_IN_TEXT = re.compile(r"(?<![0-9])1[3-9][0-9]{9}(?![0-9])")
# In what a spreadsheet cell held: any run of 7 or more digits (an ID number cut short or typed into the
# wrong column, an old 15-digit one, a landline) is someone's number until shown otherwise.
_NUMBER_IN_CELL = re.compile(r"[0-9]{7,}[0-9Xx]?")
ID_NUMBER = re.compile(r"[1-9][0-9]{16}[0-9X]", re.ASCII)  # an 18-character resident ID number (公民身份号码)
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def id_check_character(body: str) -> str:
    """The 18th character of a resident ID number from its first 17 digits (GB 11643: ISO 7064 MOD 11-2)."""
    return "10X98765432"[sum(int(c) * w for c, w in zip(body, _ID_WEIGHTS, strict=True)) % 11]


def id_number_ok(value: str) -> bool:
    """Whether an 18-character resident ID number is well formed, its check character included (ASCII digits only)."""
    return ID_NUMBER.fullmatch(value) is not None and id_check_character(value[:17]) == value[17]


def mask_cell(value: str) -> str:
    """A spreadsheet cell quoted back in a message: every run of seven or more digits masked as an ID number is."""
    return _NUMBER_IN_CELL.sub(lambda m: mask_id(m.group()), mask_numbers(str(value)))  # phones as phones, then the rest


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


def mask_numbers(text: str) -> str:
    """Free text shown in public with every ID number and mobile number in it masked as above."""
    text = _ID_IN_TEXT.sub(lambda m: mask_id(m.group()), text or "")
    return _PHONE_IN_TEXT.sub(lambda m: mask_phone(m.group()), text)
