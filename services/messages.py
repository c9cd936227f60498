"""Messages of the services (claims, shop, accounts) in Chinese and English.

Each module adds its messages with ``add``; the core's catalog is the fallback,
so one ``render`` serves every layer below the web templates (which use Flask-Babel).
"""

from __future__ import annotations

from typing import Any

from scoring.messages import CATALOG as CORE
from scoring.messages import render as core_render

CATALOG: dict[str, tuple[str, str]] = {
    "forbidden": ("无权进行此操作", "you may not do this"),
    "not_found": ("找不到该记录", "no such record"),
    # shop catalog (services.shop): a county item seen by a village shop keeper; a restock of nothing
    "shop_item_county": ("县级商品由管理员维护", "county items are kept by the administrator"),
    "shop_restock_zero": ("数量不能为 0:入库填正数,报损出库填负数",
                          "the quantity must not be 0: a positive number stocks in, a negative one writes goods off"),
}


def add(messages: dict[str, tuple[str, str]]) -> None:
    """Register a module's messages (codes must be unique across modules)."""
    for code in messages:
        if code in CATALOG or code in CORE:
            raise ValueError(f"message code {code!r} defined twice")
    CATALOG.update(messages)


def render(code: str, lang: str = "zh", **params: Any) -> str:
    """One message in ``zh`` or ``en``."""
    if code not in CATALOG:
        return core_render(code, lang, **params)
    zh, en = CATALOG[code]
    english = lang.startswith("en")
    params = {k: (v[1] if english else v[0]) if isinstance(v, tuple) and len(v) == 2 else v for k, v in params.items()}
    try:
        return (en if english else zh).format(**params)
    except (KeyError, IndexError):
        return en if english else zh
