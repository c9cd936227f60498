"""Tables of the points supermarket (积分超市): catalog items and redemptions.

Prices are BIGINT hundredths of a point like every amount. Stock never goes
below zero: it is only ever lowered by a conditional UPDATE (``stock >= qty``),
and the CHECK constraint stands behind it.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Column, Index, Text
from sqlmodel import Field, SQLModel

from store.models import big


class ShopItem(SQLModel, table=True):
    """A good or service at the counter: price, stock, who may take it and how often."""

    __tablename__ = "shop_item"
    __table_args__ = (CheckConstraint("stock >= 0", name="ck_shop_item_stock"),)
    id: int | None = Field(default=None, primary_key=True)
    name: str
    description: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    picture: str = ""  # a path under the site's static or upload folder
    point_type: str = "moral"  # the spendable point type paid with
    price: int = Field(sa_column=big())  # hundredths of a point, per unit
    stock: int = 0
    village_id: int | None = Field(default=None, foreign_key="area.id", index=True)  # None: county-wide
    min_grade: str = ""  # grade key of the point type (star3 …); "" = anyone
    limit_qty: int = 0  # 0 = no limit
    limit_per: str = "household"  # household | person
    limit_window: str = "month"  # day | week | month | quarter | year | total
    hold_days: int | None = None  # days a reservation is held; None = the shop's default
    active: bool = True
    created_at: datetime
    updated_at: datetime
    updated_by: str = ""
    # The creating form's or request's one-time key (user:key): a second press or a retry, on any web
    # worker, finds this item instead of adding another. NULL for items created without one.
    request_key: str | None = Field(default=None, unique=True)


class Redemption(SQLModel, table=True):
    """One exchange: reserved → picked_up → done, or cancelled / lapsed (points and stock given back)."""

    __tablename__ = "redemption"
    __table_args__ = (
        Index("ix_redemption_limit", "item_id", "household_id", "local_day"),
        Index("ix_redemption_status", "status", "expires_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    request_key: str = Field(unique=True)  # idempotency: a retried request finds its first answer
    item_id: int = Field(foreign_key="shop_item.id", index=True)
    household_id: int = Field(foreign_key="household.id", index=True)
    person_id: int | None = Field(default=None, foreign_key="person.id")
    village_id: int | None = Field(default=None, index=True)
    point_type: str
    holder_kind: str  # the account paid from: h | p
    holder_id: int
    qty: int
    unit_price: int = Field(sa_column=big())
    amount: int = Field(sa_column=big())
    status: str = Field(default="reserved")  # reserved | picked_up | done | cancelled | lapsed
    local_day: date
    reserved_at: datetime
    expires_at: datetime
    reserved_by: str = ""
    picked_up_at: datetime | None = None
    done_at: datetime | None = None
    closed_at: datetime | None = None  # cancelled or lapsed
    handled_by: str = ""  # the shop keeper at the counter, or who cancelled
    reason: str = ""
    spend_entry_id: int | None = None
    refund_entry_id: int | None = None
