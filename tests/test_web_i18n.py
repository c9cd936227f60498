"""Languages of the site: Chinese by default, English on request, every string translated.

The English catalog ships both as ``messages.po`` (for translators) and compiled
``messages.mo`` (what Flask-Babel reads), so a fresh clone shows English without
a build step; these tests keep the two in step with each other and with the code.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

import store.all_models  # noqa: F401
from tests.conftest import Clock
from web.testing import World, build_world, csrf_token

WEB = Path(__file__).resolve().parent.parent / "web"
PO = WEB / "translations" / "en" / "LC_MESSAGES" / "messages.po"
MO = WEB / "translations" / "en" / "LC_MESSAGES" / "messages.mo"
HAN = re.compile(r"[\u4e00-\u9fff]")
PLACEHOLDER = re.compile(r"%\([a-z_]+\)s|\{[a-z_]+\}")


def source_messages() -> set[str]:
    """Every msgid the site's code and templates use (as ``pybabel extract -F web/babel.cfg`` finds them)."""
    method_map = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
    keywords = {"_": None, "gettext": None, "_l": None, "lazy_gettext": None, "ngettext": (1, 2)}
    found = set()
    for _file, _line, message, _comments, _ctx in extract_from_dir(str(WEB), method_map, keywords=keywords):
        found.add(message if isinstance(message, str) else message[0])
    return found


def po_catalog() -> Any:
    with PO.open("rb") as f:
        return read_po(f, locale="en")


def test_every_string_of_the_site_has_an_english_translation() -> None:
    catalog = po_catalog()
    translated = {m.id: m.string for m in catalog if m.id}
    missing = sorted(source_messages() - set(translated))
    assert not missing, "run pybabel extract/update and translate: " + " | ".join(missing)
    empty = sorted(k for k, v in translated.items() if not v)
    assert not empty, "untranslated: " + " | ".join(empty)


def test_no_translated_string_hides_inside_an_f_string() -> None:
    # The extractor cannot see _() inside an f-string: such a string would never be translated.
    for path in WEB.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"""f(['"]).*?\{_l?\(""", text), path


def test_translations_keep_their_placeholders_and_contain_no_chinese_of_their_own() -> None:
    for m in po_catalog():
        if not m.id:
            continue
        assert sorted(PLACEHOLDER.findall(m.id)) == sorted(PLACEHOLDER.findall(m.string)), m.id
        # Only terms of art quoted in parentheses may stay in Chinese.
        outside = re.sub(r"\([^)]*\)", "", m.string)
        assert not HAN.search(outside), f"{m.id!r} → {m.string!r}"


def test_the_compiled_catalog_matches_the_po_file() -> None:
    with MO.open("rb") as f:
        compiled = {m.id: m.string for m in read_mo(f) if m.id}
    source = {m.id: m.string for m in po_catalog() if m.id and not m.fuzzy}
    assert compiled == source, "recompile: pybabel compile -d web/translations"


@pytest.fixture
def world(tmp_path: Path, sqlite_engine: Any, clock: Clock) -> World:
    return build_world(sqlite_engine, clock, tmp_path / "uploads")


def visible_text(html: str) -> str:
    """The words a reader sees: no tags, no script, no form values."""
    html = re.sub(r"<(script|style|textarea)[^>]*>.*?</\1>", " ", html, flags=re.S)
    html = re.sub(r'lang="zh-CN">中文<', "><", html)  # the switch back to Chinese is written in Chinese on purpose
    return re.sub(r"<[^>]+>", " ", html)


def test_chinese_is_the_default_whatever_the_browser_asks(world: World) -> None:
    c = world.client()
    html = c.get("/login", headers={"Accept-Language": "en-US,en;q=0.9"}).get_data(as_text=True)
    assert '<html lang="zh-CN"' in html
    assert "用户名" in html and "Username" not in html


def test_the_english_switch_is_remembered_in_a_cookie(world: World) -> None:
    c = world.client()
    r = c.get("/prefs?lang=en&next=/login")
    assert r.status_code == 302 and r.headers["Location"].endswith("/login")
    assert any(h.startswith("lang=en") and "HttpOnly" in h for h in r.headers.getlist("Set-Cookie"))
    html = c.get("/login").get_data(as_text=True)
    assert '<html lang="en"' in html
    assert "Username" in html
    assert not HAN.search(visible_text(html))


@pytest.mark.parametrize("path", ["/", "/login", "/activate", "/notice", "/leaderboard?type=party_work&kind=month&period=2026-03"])
def test_public_pages_in_english_have_no_chinese_chrome(world: World, path: str) -> None:
    html = world.client(lang="en").get(path).get_data(as_text=True)
    text = visible_text(html)
    # Data (names of villages and people) stays as the county wrote it; the page around it is English (rules and
    # grades by the rules file's name_en).
    for word in ("登录", "排行榜", "公示栏", "积分超市", "名次", "请选择", "首页", "排名规则"):
        assert word not in text, f"{path}: {word}"


@pytest.mark.parametrize(("role", "path"), [("villager", "/linkage/problems"), ("villager", "/linkage/rate"), ("party_member", "/linkage/problems"),
                                          ("secretary", "/appraisal"), ("secretary", "/appraisal/{M1}/2026"), ("villager", "/appraisal/rate")])
def test_household_and_appraisal_pages_in_english_have_no_chinese_chrome(world: World, role: str, path: str) -> None:
    from services import appraisal, linkage

    linkage.raise_problem(world.ctx.ledger, world.actor("party_member"), world.ids["H1"], "门前路灯坏了")
    for rater, score in (("villager", "80"), ("grid_worker", "90"), ("steward", "70")):
        appraisal.score_member(world.ctx.ledger, world.actor(rater), world.ids["M1"], "2026", score)
    r = world.client(role, lang="en").get(path.replace("{M1}", str(world.ids["M1"])))
    assert r.status_code == 200
    # Names of people and the problem's words are data; everything around them must be English.
    text = re.sub(r"门前路灯坏了|赵六|张三|白塘村党支部|民主评议得分", " ", visible_text(r.get_data(as_text=True)))
    assert not HAN.search(text), HAN.findall(text)


def test_a_bad_field_comes_back_in_english_with_what_was_typed(world: World) -> None:
    c = world.client(lang="en")
    token = csrf_token(c, "/activate")
    r = c.post("/activate", data={"csrf_token": token, "username": "villager1", "code": "", "password": "x", "confirm": "y"})
    html = r.get_data(as_text=True)
    assert r.status_code == 400
    assert "Please fill this in." in html
    assert 'value="villager1"' in html
    assert not HAN.search(visible_text(html))


def test_a_bad_field_comes_back_in_chinese_by_default(world: World) -> None:
    c = world.client()
    token = csrf_token(c, "/activate")
    r = c.post("/activate", data={"csrf_token": token, "username": "villager1", "code": "1234-5678", "password": "abcdefgh1", "confirm": "abcdefgh2"})
    html = r.get_data(as_text=True)
    assert r.status_code == 400
    assert "两次输入的密码不一样。" in html
    assert 'value="1234-5678"' in html


def test_service_refusals_are_shown_in_the_readers_language(world: World) -> None:
    for lang, expected in (("zh", "积分不足"), ("en", "not enough points")):
        c = world.client("villager", lang=None if lang == "zh" else lang)
        from services import shop
        from services.actors import Actor

        item = shop.create_item(world.ctx, Actor("admin1", "admin"), {"name": f"运动背包{lang}", "price": 999900, "stock": 3})
        token = csrf_token(c, f"/shop/item/{item.item.id}")
        r = c.post(f"/shop/item/{item.item.id}", data={"csrf_token": token, "qty": "1", "request_id": f"r-{lang}"})
        assert r.status_code == 400
        assert expected in r.get_data(as_text=True)


def test_error_pages_are_translated(world: World) -> None:
    assert "没有这个页面" in world.client().get("/no/such/page").get_data(as_text=True)
    html = world.client(lang="en").get("/no/such/page").get_data(as_text=True)
    assert "Page not found" in html
    assert not HAN.search(visible_text(html))


def test_large_type_and_high_contrast_are_remembered(world: World) -> None:
    c = world.client()
    c.get("/prefs?size=large&next=/")
    c.get("/prefs?contrast=high&next=/")
    html = c.get("/").get_data(as_text=True)
    assert 'class="size-large contrast-high"' in html
    c.get("/prefs?size=normal&contrast=normal&next=/")
    assert 'class="size-normal contrast-normal"' in c.get("/").get_data(as_text=True)


def test_prefs_never_redirect_off_site(world: World) -> None:
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        r = world.client().get(f"/prefs?lang=en&next={target}")
        assert r.headers["Location"] in ("/", "http://localhost/")


def test_po_file_parses_as_utf8() -> None:
    assert PO.read_bytes().decode("utf-8")
    assert read_po(io.BytesIO(PO.read_bytes())).locale is not None


def test_the_passbook_chart_names_its_unit_in_english(world: World) -> None:
    html = world.client("villager", lang="en").get("/passbook/H1").get_data(as_text=True)
    desc = re.search(r'<desc id="chart-desc">([^<]*)</desc>', html)
    assert desc is not None
    assert desc.group(1).endswith(" pts") and not HAN.search(desc.group(1)), desc.group(1)


def test_an_entrys_steps_name_the_unit_in_the_readers_language(world: World) -> None:
    # The villager of H1 reads e1 (3 hours of volunteer service) on the passbook: its per-unit step.
    zh = visible_text(world.client("villager").get("/passbook", follow_redirects=True).get_data(as_text=True))
    en = visible_text(world.client("villager", lang="en").get("/passbook", follow_redirects=True).get_data(as_text=True))
    assert "3 小时 × 2" in zh
    assert "3 hours × 2" in en and "小时 ×" not in en
    assert "Volunteer service (2 points an hour)" in en and "志愿服务(每小时 2 分)" in zh  # the rule by its name_en
