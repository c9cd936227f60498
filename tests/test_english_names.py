"""English names from the rules file (``name_en``): what a reader of the English site, ``jifen --lang en``
and the API's ``?lang=en`` sees of rules, tiers, grades and households; the Chinese stays as it was.

The small county of ``web.testing``: H1 (张三, red) earned 6 + 4 points of 道德积分 by MB-V1
(志愿服务(每小时 2 分)), so its next grade is 一星文明户; M1 looks after H1 (red) and H2 (yellow).
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

import store.all_models  # noqa: F401  (every table on the metadata)
from scoring.loader import DEFAULT_TIERS, check_rules, load_rules
from services import claims as wf
from services.cli import main
from store.models import Entry
from tests.conftest import Clock
from tests.test_web_i18n import visible_text
from web.api import tokens
from web.testing import World, build_world

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = (ROOT / "rules.yaml").read_text(encoding="utf-8")
HAN = re.compile(r"[\u4e00-\u9fff]")
VOLUNTEER = ("志愿服务(每小时 2 分)", "Volunteer service (2 points an hour)")  # MB-V1
CARING = ("照顾无亲缘关系的老人、病人、儿童", "Caring for unrelated elderly, sick people or children")  # MB-05: reviewed, then on notice
ONE_STAR = ("一星文明户", "One-star civilised household")
PEOPLE = re.compile(r"张三|李四|王五|赵六|钱七|孙八")  # names are data: they stay as the county wrote them


@pytest.fixture
def world(tmp_path: Path, sqlite_engine: Any, clock: Clock) -> World:
    return build_world(sqlite_engine, clock, tmp_path / "uploads")


def page(world: World, role: str | None, path: str, lang: str | None = None) -> str:
    """The words a reader sees on a page."""
    r = world.client(role, lang=lang).get(path)
    assert r.status_code == 200, (path, r.status_code)
    return visible_text(r.get_data(as_text=True))


def claim(world: World, person: str, rule: str = "MB-05") -> int:
    """A claim the grid worker of G1 declares for a villager of the grid (MB-05 needs review, then 5 days' notice)."""
    config = wf.WorkflowConfig(upload_dir=Path(world.app.config["UPLOAD_DIR"]))
    result = wf.submit(world.ctx.ledger, world.actor("grid_worker"), rule, person=person, description="照顾邻居老人",
                       key=f"t-{rule}-{person}", config=config)
    assert result.claim is not None and result.status == "pending"
    return result.claim.id


def moral_entry(world: World, event: str = "e1") -> int:
    """The ledger entry of one of the county's events."""
    with world.ctx.engine.connect() as conn:
        return int(conn.execute(select(Entry.id).where(Entry.event_key == event, Entry.point_type == "moral")).scalar_one())


# ------------------------------------------------------------------ the site
def test_the_english_passbook_names_its_rules_grade_and_household_in_english(world: World) -> None:
    en = page(world, "villager", "/passbook/H1", "en")
    assert VOLUNTEER[1] in en and VOLUNTEER[0] not in en
    assert f"10 pts more to reach {ONE_STAR[1]}" in en and ONE_STAR[0] not in en
    assert "张三 household" in en and "张三户" not in en
    assert not HAN.search(PEOPLE.sub(" ", en)), HAN.findall(PEOPLE.sub(" ", en))
    zh = page(world, "villager", "/passbook/H1")
    assert VOLUNTEER[0] in zh and VOLUNTEER[1] not in zh
    assert f"再得 10 分 可评为{ONE_STAR[0]}" in zh and "张三户 · 积分存折" in zh


def test_the_english_notice_board_desk_queue_and_claim_name_the_rule_in_english(world: World) -> None:
    on_notice = claim(world, "P1")
    wf.approve(world.ctx.ledger, world.actor("secretary"), on_notice, config=wf.WorkflowConfig(upload_dir=Path(world.app.config["UPLOAD_DIR"])))
    waiting = claim(world, "P2")  # left for the secretary to review
    board = f"/notice/{world.ids['V1']}"
    for path, role in ((board, None), ("/desk/queue", "secretary"), (f"/claims/{waiting}", "secretary"), ("/claims/mine", "grid_worker")):
        en, zh = page(world, role, path, "en"), page(world, role, path)
        assert CARING[1] in en and CARING[0] not in en, path
        assert CARING[0] in zh and CARING[1] not in zh, path
    claim_en = page(world, "secretary", f"/claims/{waiting}", "en")
    assert "李四 household (H2)" in claim_en and "李四户" not in claim_en
    assert "李四户 (H2)" in page(world, "secretary", f"/claims/{waiting}")


def test_the_english_claim_form_names_the_rule_and_its_fields_in_english(world: World) -> None:
    en = page(world, "grid_worker", "/claims/new?rule=MB-V1", "en")
    assert f"MB-V1 {VOLUNTEER[1]}" in en and "Hours" in en and "Signed in on site" in en
    assert f"{CARING[1]} (+5 Moral credit)" in en  # the rule picker
    assert not HAN.search(en), HAN.findall(en)
    zh = page(world, "grid_worker", "/claims/new?rule=MB-V1")
    assert f"MB-V1 {VOLUNTEER[0]}" in zh and "现场签到" in zh and f"{CARING[0]} (+5 道德积分)" in zh


def test_the_linked_households_show_their_tier_in_english(world: World) -> None:
    en = page(world, "party_member", "/linkage", "en")
    assert "Red" in en and "Yellow" in en and "红色" not in en
    zh = page(world, "party_member", "/linkage")
    assert "红色" in zh and "黄色" in zh and "Red" not in zh


def test_a_refusal_names_the_rule_in_the_readers_language(world: World) -> None:
    # A grid worker may not enter 民主评议得分 (PA-01): the refusal names the rule as the reader reads it.
    from services.errors import ServiceError

    with pytest.raises(ServiceError) as refused:
        wf.submit(world.ctx.ledger, world.actor("grid_worker"), "PA-01", person="M1", fields={"score": "90"})
    assert "(Democratic appraisal score)" in refused.value.message("en")
    assert "(民主评议得分)" in refused.value.message("zh")


# ------------------------------------------------------------------ the command line
def run(world: World, *args: str) -> Any:
    result = CliRunner().invoke(main, ["--db", world.ctx.engine.url.render_as_string(hide_password=False), *args])
    assert result.exit_code == 0, result.output
    return result


def test_jifen_in_english_explains_an_entry_by_the_rules_english_name(world: World) -> None:
    entry = str(moral_entry(world))
    en = run(world, "--lang", "en", "explain", entry).output
    assert f"rule name: {VOLUNTEER[1]}" in en and "account: H1 张三 household" in en, en
    assert not HAN.search(PEOPLE.sub(" ", en)), en
    zh = run(world, "explain", entry).output
    assert f"规则名称: {VOLUNTEER[0]}" in zh and "账户: H1 张三户" in zh, zh
    balance = run(world, "--lang", "en", "balance", "H1").output
    # (this year's score depends on the day the suite runs: the next grade is one star whatever it is)
    assert balance.startswith("H1 张三 household\n") and f" to {ONE_STAR[1]}" in balance, balance
    assert not HAN.search(PEOPLE.sub(" ", balance)), balance
    assert f"距{ONE_STAR[0]}还差" in run(world, "balance", "H1").output


def test_jifen_claims_in_english_name_the_rule_in_english(world: World) -> None:
    claim(world, "P1")
    en = run(world, "--lang", "en", "claims", "list").output
    assert CARING[1] in en and CARING[0] not in en, en
    assert CARING[0] in run(world, "claims", "list").output


# ------------------------------------------------------------------ the API
def api_get(world: World, path: str, lang: str | None = None) -> Any:
    token = tokens.issue(world.ctx.engine, f"app-{secrets.token_hex(4)}", "villager", "test", world.ctx.now(),
                         household="H1", person="P1").token
    r = world.app.test_client().get(f"/api/v1{path}" + (f"?lang={lang}" if lang else ""), headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.get_data(as_text=True)
    return r.json


def test_the_api_in_english_explains_and_names_in_english(world: World) -> None:
    entry = moral_entry(world)
    assert api_get(world, f"/entries/{entry}", "en")["rule_name"] == VOLUNTEER[1]
    assert api_get(world, f"/entries/{entry}")["rule_name"] == VOLUNTEER[0]
    en, zh = api_get(world, "/balances/H1", "en"), api_get(world, "/balances/H1")
    assert en["holder"]["name"] == "张三 household" and zh["holder"]["name"] == "张三户"
    moral_en = next(a for a in en["accounts"] if a["point_type"] == "moral")
    moral_zh = next(a for a in zh["accounts"] if a["point_type"] == "moral")
    assert (moral_en["name"], moral_en["next_grade"]) == ("Moral credit", ONE_STAR[1])
    assert (moral_zh["name"], moral_zh["next_grade"]) == ("道德积分", ONE_STAR[0])


def test_the_api_in_english_names_an_items_grade_and_a_claims_rule_in_english(world: World) -> None:
    from services import shop
    from services.actors import Actor

    item = shop.create_item(world.ctx, Actor("admin1", "admin"), {"name": "茶叶", "price": 500, "stock": 3, "min_grade": "star1"}).item.id
    assert api_get(world, f"/shop/items/{item}", "en")["min_grade_name"] == ONE_STAR[1]
    assert api_get(world, f"/shop/items/{item}")["min_grade_name"] == ONE_STAR[0]
    cid = claim(world, "P1")
    en, zh = api_get(world, f"/claims/{cid}", "en"), api_get(world, f"/claims/{cid}")
    assert (en["rule_name"], en["household_name"]) == (CARING[1], "张三 household")
    assert (zh["rule_name"], zh["household_name"]) == (CARING[0], "张三户")


# ------------------------------------------------------------------ the rules file
def test_the_shipped_rules_name_everything_in_english() -> None:
    ruleset = load_rules(SHIPPED)
    named = [*ruleset.tiers, *ruleset.point_types.values(), *ruleset.event_types.values(), *ruleset.categories.values(),
             *ruleset.rules.values(), *(g for pt in ruleset.point_types.values() for g in pt.grades)]
    assert len(ruleset.rules) == 43
    for thing in named:
        assert thing.name_en and not HAN.search(thing.label("en")) and thing.label("zh") == thing.name, thing
    for pt in ruleset.point_types.values():
        assert pt.grade_name_en and pt.grade_label("zh") == pt.grade_name
    assert ruleset.point_types["moral"].grade_label("en") == "Star-rated civilised households"
    assert ruleset.rules["LH-01"].label("en") == "Visiting a linked household"
    assert ruleset.event_types["household_visit"].label("en") == "Household visit"
    fields = [f for et in ruleset.event_types.values() for f in et.fields.values()]
    assert fields and all(f.label_en and f.caption("zh") == f.label for f in fields)


def test_without_english_names_the_chinese_ones_are_shown() -> None:
    bare = re.sub(r"\n *name_en: [^\n]*|, (name|label)_en: [^,}]*", "", SHIPPED)
    assert "name_en" not in bare and "label_en" not in bare
    ruleset = load_rules(bare)
    assert ruleset.rules["LH-01"].label("en") == "走访联系户"
    assert ruleset.tiers[2].label("en") == "红色"
    assert ruleset.event_types["volunteer_service"].fields["hours"].caption("en") == "小时"
    no_tiers = re.sub(r"\ntiers:\n(  - [^\n]*\n)+", "\n", bare)
    assert load_rules(no_tiers).tiers == DEFAULT_TIERS and [t.label("en") for t in DEFAULT_TIERS] == ["Yellow", "Orange", "Red"]


@pytest.mark.parametrize(("old", "new", "key"), [
    ("    name_en: Visiting a linked household\n", "    name_en: [visit, household]\n", "name_en"),  # a rule
    ("    name_en: Household visit\n", "    name_en: {x: 1}\n", "name_en"),  # an event type
    ("    name_en: Household linking\n", "    name_en:\n", "name_en"),  # a category, left empty
    ("{key: red, name: 红色, name_en: Red,", "{key: red, name: 红色, name_en: true,", "name_en"),  # a tier
    ("name_en: One-star civilised household,", "name_en: [one, star],", "name_en"),  # a grade level
    ("      name_en: Star-rated volunteers\n", "      name_en: [stars]\n", "name_en"),  # the grades' own name
    ("label: 小时, label_en: Hours}", "label: 小时, label_en: [h]}", "label_en"),  # a field's label
])
def test_a_name_en_that_is_not_text_is_refused_at_its_place(old: str, new: str, key: str) -> None:
    assert SHIPPED.count(old) == 1
    text = SHIPPED.replace(old, new)
    at = text.index(new) + new.index(f"{key}:")
    line = text.count("\n", 0, at) + 1
    start = text.rfind("\n", 0, at) + 1
    after = at + len(key) + 1  # just past the colon
    # Placed at the value; an empty value has no place of its own, so at its key.
    column = (at if text[after] == "\n" else after + 1) - start + 1
    problems = check_rules(text)
    assert [p.format("en") for p in problems] == [f"rules.yaml:{line}:{column}: '{key}' must be non-empty text"]
    assert [p.format("zh") for p in problems] == [f"rules.yaml:{line}:{column}: “{key}” 应为非空文字"]
