"""Steps of the site's scenarios (features/web): each user journey through the Flask test client.

Imported by features/test_web.py. Every request goes through the real forms,
CSRF tokens included; the scenario keeps one "current" browser (client) and
the last page it saw.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient
from pytest_bdd import given, parsers, then, when
from sqlalchemy import Engine, select
from werkzeug.test import TestResponse

import store.all_models  # noqa: F401
from services.actors import Actor
from store import rules_repo
from store.models import Household
from store.models_shop import Redemption, ShopItem
from store.models_web import AuditLog
from store.models_workflow import Objection
from web.testing import World, add_user, build_world, csrf_token

ROLE_WORDS = {
    "村民": "villager", "党员": "party_member", "网格员": "grid_worker", "道德管家": "steward", "支部书记": "secretary",
    "村委会": "committee", "超市管理员": "shopkeeper", "管理员": "admin", "审计": "auditor",
}
# A 1×1 PNG: a real photo as far as the upload check (by content) is concerned.
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360f8cf000000030101007a1d5bdc0000000049454e44ae426082")


@dataclass
class Site:
    """The scenario's state: the county, who is at the keyboard and what the screen shows."""

    world: World
    client: FlaskClient | None = None
    page: TestResponse | None = None
    claim_id: int | None = None
    code: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def html(self) -> str:
        assert self.page is not None, "no page opened yet"
        return self.page.get_data(as_text=True)

    def path(self, text: str) -> str:
        """A path with {CODE} placeholders replaced by ids."""
        return re.sub(r"\{([A-Z0-9-]+)\}", lambda m: str(self.world.ids[m.group(1)]), text)

    def get(self, path: str) -> TestResponse:
        assert self.client is not None
        self.page = self.client.get(self.path(path), follow_redirects=True)
        return self.page

    def post(self, path: str, data: dict[str, Any], token_from: str | None = None, **kw: Any) -> TestResponse:
        assert self.client is not None
        data = {"csrf_token": csrf_token(self.client, token_from or path), **data}
        self.page = self.client.post(path, data=data, follow_redirects=True, **kw)
        return self.page

    @property
    def engine(self) -> Engine:
        return self.world.ctx.engine


def P(text: str) -> Any:
    """A parse-style step pattern."""
    return parsers.parse(text)


# ---------------------------------------------------------------- the county
@given("网站上有一个示范县", target_fixture="site")
def site(tmp_path: Path, sqlite_engine: Engine, clock: Any) -> Site:
    world = build_world(sqlite_engine, clock, tmp_path / "uploads")
    add_user(world, "neighbour", "villager", {"household_id": world.ids["H2"]})
    return Site(world)


@given(P('积分超市有 "{name}",价格 {price:d} 分,库存 {stock:d} 件'))
def shop_item(site: Site, name: str, price: int, stock: int) -> None:
    from services import shop

    shop.create_item(site.world.ctx, Actor("admin1", "admin"), {"name": name, "price": price * 100, "stock": stock,
                                                                "picture": "img/shop/laundry.svg"})


# ---------------------------------------------------------------- who and where
@when(P("{who} 登录网站"))
def log_in(site: Site, who: str) -> None:
    named = re.fullmatch(r'用户 "(.+)"', who)
    username = named.group(1) if named else site.world.users[ROLE_WORDS[who]]
    site.client = site.world.app.test_client()
    site.world.login(site.client, username)


@when(P('打开 "{path}"'))
def open_page(site: Site, path: str) -> None:
    site.get(path)


@when(P('游客 打开 "{path}"'))
def open_as_visitor(site: Site, path: str) -> None:
    site.client = site.world.app.test_client()
    site.get(path)


@when("游客 打开本村公示栏")
def open_notice_board(site: Site) -> None:
    site.client = site.world.app.test_client()
    site.get("/notice/{V1}")


# ---------------------------------------------------------------- what the page shows
@then(P('页面显示 "{text}"'))
def page_shows(site: Site, text: str) -> None:
    assert text in site.html, f"{text!r} not on {site.page.request.path if site.page else '?'}"


@then(P('页面不显示 "{text}"'))
def page_hides(site: Site, text: str) -> None:
    assert text not in site.html


@then(P("页面状态为 {code:d}"))
def page_status(site: Site, code: int) -> None:
    assert site.page is not None and site.page.status_code == code


@then("页面有余额走势图")
def has_chart(site: Site) -> None:
    assert '<svg class="chart"' in site.html
    assert "<title" in site.html


@then(P('榜上第 {n:d} 名是 "{name}"'))
def board_rank(site: Site, n: int, name: str) -> None:
    rows = re.findall(r'<td class="rank">(.*?)</td>\s*<td>(.*?)</td>', site.html, flags=re.S)
    ranked = [(re.sub(r"<[^>]+>", "", r).strip(), who.strip()) for r, who in rows]
    assert (str(n), name) in ranked, ranked


@then(P('操作日志里有 "{action}"'))
def audited(site: Site, action: str) -> None:
    with site.engine.connect() as conn:
        assert conn.execute(select(AuditLog.id).where(AuditLog.action == action)).first() is not None


# ---------------------------------------------------------------- claims
def _submit(site: Site, person: str, rule: str, description: str, photo: bool) -> None:
    data: dict[str, Any] = {"rule": rule, "person": person, "description": description}
    if photo:
        data["evidence"] = (io.BytesIO(PNG), "photo.png")
    site.post(f"/claims/new?rule={rule}", data, token_from=f"/claims/new?rule={rule}", content_type="multipart/form-data")
    match = re.search(r"/claims/(\d+)$", site.page.request.path if site.page else "")
    site.claim_id = int(match.group(1)) if match else None


@when(P('为 "{person}" 申报 "{rule}",说明 "{description}",附一张照片'))
def submit_with_photo(site: Site, person: str, rule: str, description: str) -> None:
    _submit(site, person, rule, description, True)


@when(P('为 "{person}" 申报 "{rule}",说明 "{description}",不附照片'))
def submit_without_photo(site: Site, person: str, rule: str, description: str) -> None:
    _submit(site, person, rule, description, False)


@when(P('提交申报表单 "{rule}",村民 "{person}",不填小时数'))
def submit_missing_field(site: Site, rule: str, person: str) -> None:
    site.post(f"/claims/new?rule={rule}", {"rule": rule, "person": person, "description": "打扫村道"})


@then(P('表单保留了村民编号 "{code}"'))
def form_keeps(site: Site, code: str) -> None:
    assert f'name="person" type="text" value="{code}"' in site.html


@when("审核通过刚才的申报")
def approve(site: Site) -> None:
    site.post(f"/claims/{site.claim_id}/approve", {"note": "属实"}, token_from=f"/claims/{site.claim_id}")


@when(P('在本村公示栏对刚才的申报提出异议 "{reason}"'))
def object_on_board(site: Site, reason: str) -> None:
    board = site.path("/notice/{V1}")
    site.post(f"/claims/{site.claim_id}/object", {"reason": reason, "next": board}, token_from=board)


@when(P('驳回刚才申报的异议,意见 "{reason}"'))
def dismiss_objection(site: Site, reason: str) -> None:
    with site.engine.connect() as conn:
        oid = conn.execute(select(Objection.id).where(Objection.claim_id == site.claim_id)).scalar_one()
    site.post(f"/claims/{site.claim_id}/objections/{oid}", {"decision": "dismiss", "reason": reason},
              token_from=f"/claims/{site.claim_id}")


# ---------------------------------------------------------------- shop
def _item_id(site: Site, name: str) -> int:
    with site.engine.connect() as conn:
        return int(conn.execute(select(ShopItem.id).where(ShopItem.name == name)).scalar_one())


def _last_redemption(site: Site) -> int:
    with site.engine.connect() as conn:
        return int(conn.execute(select(Redemption.id).order_by(Redemption.id.desc())).scalars().first())  # type: ignore[union-attr]


@when(P('预订 {qty:d} 件 "{name}"'))
def reserve(site: Site, qty: int, name: str) -> None:
    path = f"/shop/item/{_item_id(site, name)}"
    page = site.client.get(path).get_data(as_text=True)  # type: ignore[union-attr]
    request_id = re.search(r'name="request_id" value="([^"]*)"', page)
    site.post(path, {"qty": str(qty), "request_id": request_id.group(1) if request_id else ""})


@then(P("{code} 户的道德积分余额为 {amount:d}"))
def moral_balance(site: Site, code: str, amount: int) -> None:
    with site.engine.connect() as conn:
        hid = conn.execute(select(Household.id).where(Household.code == code)).scalar_one()
    assert site.world.ctx.ledger.balance("moral", "h", hid)[0] == amount * 100


@when(P('在柜台查询户号 "{code}"'))
def counter_lookup(site: Site, code: str) -> None:
    site.get(f"/shop/counter?household={code}")
    site.extra["counter"] = f"/shop/counter?household={code}"


@when("在柜台交付刚才的兑换单")
def hand_over(site: Site) -> None:
    back = site.extra.get("counter", "/shop/counter")
    site.post(f"/shop/counter/{_last_redemption(site)}/pick_up", {"next": back}, token_from=back)


@when("取消刚才的预订")
def cancel(site: Site) -> None:
    site.post(f"/shop/reservations/{_last_redemption(site)}/cancel", {"next": "/shop/reservations"}, token_from="/shop/reservations")


# ---------------------------------------------------------------- rules editor
def _edit_rules(site: Site, old: str, new: str, action: str, **extra: str) -> None:
    live = rules_repo.live_source(site.engine, site.world.ctx.today()) or ""
    assert live.count(old) == 1, f"{old!r} appears {live.count(old)} times in the live rules"
    data = {"text": live.replace(old, new), "action": action, "effective": "2026-06-02", "period": "2026-05", **extra}
    site.post("/admin/rules", data)


@when(P('把现行规则里的 "{old}" 改成 "{new}" 后点 "{action}"'))
def edit_rules(site: Site, old: str, new: str, action: str) -> None:
    _edit_rules(site, old, new, action)


@when(P('把现行规则里的 "{old}" 改成 "{new}" 后点 "{action}",试算期间 "{period}"'))
def edit_rules_dry(site: Site, old: str, new: str, action: str, period: str) -> None:
    _edit_rules(site, old, new, action, period=period)


@when(P('把现行规则里的 "{old}" 改成 "{new}" 后点 "{action}",生效日期 "{day}"'))
def edit_rules_publish(site: Site, old: str, new: str, action: str, day: str) -> None:
    _edit_rules(site, old, new, action, effective=day)


@then(P('出错的行旁边写着 "{text}"'))
def error_beside_line(site: Site, text: str) -> None:
    bad = re.findall(r'<div class="ln bad" id="L(\d+)">(.*?)</div>', site.html, flags=re.S)
    assert bad, "no line is marked"
    assert any(text in body for _, body in bad), bad


@then(P("规则版本共有 {n:d} 个"))
def versions(site: Site, n: int) -> None:
    assert len(rules_repo.history(site.engine)) == n


@then("页面没有发布按钮")
def no_publish_button(site: Site) -> None:
    assert 'value="publish"' not in site.html


# ---------------------------------------------------------------- accounts
@when(P('为户号 "{code}" 开通农户账号 "{username}"'))
def open_household_login(site: Site, code: str, username: str) -> None:
    site.post("/admin/users/new", {"username": username, "role": "villager", "household": code, "active": "1"})


@when(P('提交开通账号表单,用户名 "{username}",角色 "{role}"'))
def open_login(site: Site, username: str, role: str) -> None:
    site.post("/admin/users/new", {"username": username, "role": role, "active": "1"})


@then("页面显示一次性验证码")
def shows_code(site: Site) -> None:
    match = re.search(r'id="one-time-code"[^>]*>(\d{4}-\d{4})<', site.html)
    assert match, "no one-time code on the page"
    site.code = match.group(1)


@when(P('用户 "{username}" 用验证码设置密码 "{password}"'))
def activate(site: Site, username: str, password: str) -> None:
    site.client = site.world.app.test_client()
    site.post("/activate", {"username": username, "code": site.code, "password": password, "confirm": password})


@when(P('用户 "{username}" 连续 {n:d} 次输错密码'))
def wrong_passwords(site: Site, username: str, n: int) -> None:
    site.client = site.world.app.test_client()
    for i in range(n):
        site.post("/login", {"username": username, "password": f"wrong-{i}"})


@when(P('用户 "{username}" 用正确的密码登录'))
def right_password(site: Site, username: str) -> None:
    site.post("/login", {"username": username, "password": site.world.passwords[username]})


# ---------------------------------------------------------------- desk
def _csv_rows(site: Site) -> list[list[str]]:
    assert site.page is not None
    assert site.page.mimetype == "text/csv"
    text = site.page.get_data().decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


@then(P('下载的表格类型是 "{content_type}"'))
def csv_content_type(site: Site, content_type: str) -> None:
    assert site.page is not None
    assert site.page.headers["Content-Type"] == content_type  # exactly: one charset, not two


@then(P('下载的表格第一行是 "{line}"'))
def csv_header(site: Site, line: str) -> None:
    assert ",".join(_csv_rows(site)[0]) == line


@then(P('下载的表格里有 "{text}"'))
def csv_has(site: Site, text: str) -> None:
    assert any(",".join(r).startswith(text) for r in _csv_rows(site)[1:])



# ---------------------------------------------------------------- household linking
@when(P('登记对 "{code}" 的走访 "{note}"'))
def record_visit(site: Site, code: str, note: str) -> None:
    site.post("/linkage", {"household": str(site.world.ids[code]), "kind": "visit", "note": note})


# ---------------------------------------------------------------- the household confirms and rates (党员联户)
def _person_id(site: Site, code: str) -> int:
    return site.world.ids[code]


def _party_work(site: Site, code: str) -> int:
    return site.world.ctx.ledger.balance("party_work", "p", _person_id(site, code))[0]


def _problem(site: Site, summary: str) -> Any:
    from store.models_workflow import LinkProblem

    with site.engine.connect() as conn:
        row = conn.execute(select(LinkProblem.id, LinkProblem.status).where(LinkProblem.summary == summary)).first()  # type: ignore[call-overload]
    assert row is not None, f"no problem {summary!r}"
    return row


@given(P('党员为联系户 "{code}" 登记了问题 "{summary}"'))
def member_raises_problem(site: Site, code: str, summary: str) -> None:
    member = site.world.client("party_member")
    token = csrf_token(member, "/linkage")
    r = member.post("/linkage", data={"csrf_token": token, "household": str(site.world.ids[code]), "kind": "problem", "note": summary})
    assert r.status_code == 302, r.status_code
    assert _problem(site, summary).status == "open"


@when(P('记下 "{code}" 的零基积分'))
def note_party_work(site: Site, code: str) -> None:
    site.extra.setdefault("before", {})[code] = _party_work(site, code)


@then(P('"{code}" 的零基积分增加了 {points} 分'))
def party_work_rose(site: Site, code: str, points: str) -> None:
    from decimal import Decimal

    assert _party_work(site, code) - site.extra["before"][code] == int(Decimal(points) * 100)


@when(P('确认问题 "{summary}" 已解决'))
def confirm_problem(site: Site, summary: str) -> None:
    site.post(f"/linkage/problems/{_problem(site, summary).id}/confirm", {"answer": "resolved"}, token_from="/linkage/problems")


@then(P('问题 "{summary}" 已解决'))
def problem_resolved(site: Site, summary: str) -> None:
    assert _problem(site, summary).status == "resolved"


@then(P('问题 "{summary}" 仍未解决'))
def problem_open(site: Site, summary: str) -> None:
    assert _problem(site, summary).status != "resolved"


@when("切换到英文界面")
def switch_to_english(site: Site) -> None:
    assert site.client is not None
    site.client.set_cookie("lang", "en")


@when(P('给联系党员 "{code}" 打 {stars:d} 颗星'))
def rate_member(site: Site, code: str, stars: int) -> None:
    site.post("/linkage/rate", {"member": str(_person_id(site, code)), "rating": str(stars)})


@when(P('给联系党员 "{code}" 提交评价但没选星'))
def rate_without_stars(site: Site, code: str) -> None:
    site.post("/linkage/rate", {"member": str(_person_id(site, code))})


# ---------------------------------------------------------------- democratic appraisal (民主评议)
@when(P('为 "{code}" 开始 "{period}" 评议'))
def open_round(site: Site, code: str, period: str) -> None:
    site.post("/appraisal/open", {"member": str(_person_id(site, code)), "period": period}, token_from="/appraisal")


@when(P('为 "{code}" 开始 "{period}" 评议,指定评议人 "{names}"'))
def open_round_with_raters(site: Site, code: str, period: str, names: str) -> None:
    site.post("/appraisal/open", {"member": str(_person_id(site, code)), "period": period, "raters": names.replace("、", "\n")},
              token_from="/appraisal")


@when(P('代录评议人 "{rater}" 给 "{code}" 的 "{period}" 评议打 "{score}" 分'))
def paper_ballot(site: Site, rater: str, code: str, period: str, score: str) -> None:
    round_page = f"/appraisal/{_person_id(site, code)}/{period}"
    site.post(f"{round_page}/ballot", {"rater": rater, "score": score}, token_from=round_page)


@when(P('结束 "{code}" 的 "{period}" 评议'))
def close_round(site: Site, code: str, period: str) -> None:
    round_page = f"/appraisal/{_person_id(site, code)}/{period}"
    site.post(f"{round_page}/close", {"answer": "close"}, token_from=round_page)


@given(P('村里还有第二个党支部,书记登录名 "{username}"'))
def second_branch(site: Site, username: str) -> None:
    from store.models import Branch
    from web.testing import _add

    branch = _add(site.engine, Branch(code="B-V1-2", name="白塘村第二党支部", village_id=site.world.ids["V1"]))
    add_user(site.world, username, "secretary", {"branch_id": branch})


def _menu(site: Site) -> str:
    match = re.search(r'<nav class="menu".*?</nav>', site.html, flags=re.S)
    return match.group(0) if match else ""


@then(P('菜单里有 "{label}"'))
def menu_has(site: Site, label: str) -> None:
    assert f">{label}</a>" in _menu(site), _menu(site)


@then(P('菜单里没有 "{label}"'))
def menu_lacks(site: Site, label: str) -> None:
    assert f">{label}</a>" not in _menu(site), _menu(site)


@when(P('以下评议人为 "{code}" 的 "{period}" 评议打分:'))
def raters_score(site: Site, code: str, period: str, datatable: list[list[str]]) -> None:
    for username, score in datatable[1:]:
        site.client = site.world.app.test_client()
        site.world.login(site.client, username.strip())
        site.post("/appraisal/rate", {"member": str(_person_id(site, code)), "period": period, "score": score.strip()},
                  token_from=f"/appraisal/rate?period={period}")
        assert "已为" in site.html, f"{username} could not score: {site.page.status_code if site.page else '?'}"


@when(P('评议人打 "{score}" 分给 "{code}" 的 "{period}" 评议'))
def one_rater_scores(site: Site, score: str, code: str, period: str) -> None:
    site.post("/appraisal/rate", {"member": str(_person_id(site, code)), "period": period, "score": score},
              token_from=f"/appraisal/rate?period={period}")


@when(P('公布 "{code}" 的 "{period}" 评议结果'))
def post_result(site: Site, code: str, period: str) -> None:
    round_page = f"/appraisal/{_person_id(site, code)}/{period}"
    site.post(f"{round_page}/post", {"answer": "post"}, token_from=round_page)


@then(P('打分框里保留了 "{score}"'))
def score_kept(site: Site, score: str) -> None:
    assert re.search(rf'class="score" name="score" type="text" inputmode="decimal" value="{re.escape(score)}"', site.html)
