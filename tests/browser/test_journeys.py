"""Each role's key journeys in a real browser, with screenshots of the main pages at phone and desktop width.

Screenshots land in screenshots/ (gitignored) as ``<page>-phone.png`` and ``<page>-desktop.png``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from store.models import Household
from tests.browser.conftest import DESKTOP, PHONE, LiveSite

PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360f8cf000000030101007a1d5bdc0000000049454e44ae426082")


def open_as(browser: Any, site: LiveSite, role: str | None, viewport: dict[str, int] = DESKTOP) -> Any:
    """A fresh page (its own cookies) logged in as the demo login of a role; None stays anonymous."""
    context = browser.new_context(viewport=viewport, locale="zh-CN", device_scale_factor=1)
    context.set_default_timeout(15000)
    page = context.new_page()
    if role:
        page.goto(site.url + "/login")
        page.fill("#f-username", f"demo_{role}")
        page.fill("#f-password", site.passwords[role])
        page.click("form.stack button[type=submit]")
        page.wait_for_load_state()
        assert "/login" not in page.url, f"login of {role} failed"
    return page


def shot(page: Any, folder: Path, name: str) -> None:
    """A full-page screenshot named after the page and the viewport."""
    width = page.viewport_size["width"]
    page.wait_for_load_state("networkidle")  # pictures finished loading
    page.screenshot(path=str(folder / f"{name}-{'phone' if width < 600 else 'desktop'}.png"), full_page=True)


def both_widths(browser: Any, site: LiveSite, role: str | None, path: str, folder: Path, name: str) -> None:
    """The same page at phone and desktop width."""
    for viewport in (PHONE, DESKTOP):
        page = open_as(browser, site, role, viewport)
        page.goto(site.url + path)
        assert page.locator("h1").first.is_visible()
        shot(page, folder, name)
        page.context.close()


@pytest.fixture
def topped_up(live_site: LiveSite) -> Iterator[LiveSite]:
    """The demo household has enough moral credit for a couple of items."""
    ctx = live_site.ctx
    hid = live_site.scope["household"].id
    balance = ctx.ledger.balance("moral", "h", hid)[0]
    if balance < 10000:
        with ctx.ledger.write_engine.begin() as conn:
            ctx.ledger.credit(conn, "moral", "h", hid, 10000 - balance, f"browser-topup:{hid}:{balance}", "browser-suite",
                              note="browser suite top-up")
    yield live_site


def test_a_visitor_reads_the_leaderboard(browser: Any, live_site: LiveSite, shots: Path) -> None:
    both_widths(browser, live_site, None, "/", shots, "home")
    both_widths(browser, live_site, None, "/leaderboard?type=moral", shots, "leaderboard")
    page = open_as(browser, live_site, None, PHONE)
    page.goto(live_site.url + "/leaderboard")
    page.select_option("#f-type", "moral")
    page.select_option("#f-scope", "village")
    page.click("form.filters button[type=submit]")
    assert page.locator("#f-area").count() == 1
    assert page.locator("table tbody tr").count() >= 3
    expect(page.locator("body")).to_contain_text("同分同名次")
    page.context.close()


def test_a_villager_opens_the_passbook(browser: Any, live_site: LiveSite, shots: Path) -> None:
    for viewport in (PHONE, DESKTOP):
        page = open_as(browser, live_site, "villager", viewport)
        page.goto(live_site.url + "/passbook")
        assert "积分存折" in page.locator("h1").inner_text()
        assert page.locator("svg.chart").count() == 1
        page.locator("ol.history details summary").first.click()
        assert page.locator("ol.history details[open] dl.facts").first.is_visible()
        shot(page, shots, "passbook")
        page.context.close()
    # The elderly-friendly options and English, on a phone.
    page = open_as(browser, live_site, "villager", PHONE)
    page.goto(live_site.url + "/passbook")
    page.click("text=大字")
    page.click("text=高对比")
    assert page.locator("html.size-large.contrast-high").count() == 1
    size = page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)")
    assert size >= 22
    shot(page, shots, "passbook-large-contrast")
    page.click("text=English")
    assert "Points passbook" in page.locator("h1").inner_text()
    page.click("text=Normal text")
    page.click("text=Normal colours")
    shot(page, shots, "passbook-english")
    page.click("text=中文")
    page.context.close()


def test_a_claim_is_submitted_approved_noticed_and_objected(browser: Any, live_site: LiveSite, shots: Path, tmp_path: Path) -> None:
    head = live_site.scope["head"]
    photo = tmp_path / "photo.png"
    photo.write_bytes(PNG)
    # The grid worker declares, on a phone.
    page = open_as(browser, live_site, "grid_worker", PHONE)
    page.goto(live_site.url + "/claims/new")
    page.select_option("#f-rule", "MB-05")
    page.click("text=选定事项")
    page.fill("#f-person", head)
    page.fill("#f-description", "每天给独居的李奶奶送饭,已一个月")
    page.set_input_files("#f-evidence", str(photo))
    shot(page, shots, "claim-form")
    page.click("text=提交申报")
    expect(page.locator("body")).to_contain_text("已提交,等待审核")
    claim_url = page.url
    claim_id = int(re.search(r"/claims/(\d+)", claim_url).group(1))  # type: ignore[union-attr]
    page.context.close()
    # The secretary reviews from the queue.
    page = open_as(browser, live_site, "secretary", DESKTOP)
    page.goto(live_site.url + "/desk/queue")
    shot(page, shots, "review-queue")
    page.click(f"a[href='/claims/{claim_id}']")
    page.fill("#f-note", "经核实属实")
    page.click("#review button:has-text('审核通过')")
    expect(page.locator("body")).to_contain_text("已审核通过")
    assert "公示中" in page.locator("h1").inner_text()
    shot(page, shots, "claim")
    page.context.close()
    # The notice board, on screen and as an A4 print.
    village = live_site.scope["village"].id
    both_widths(browser, live_site, None, f"/notice/{village}", shots, "notice-board")
    page = open_as(browser, live_site, None, DESKTOP)
    page.goto(f"{live_site.url}/notice/{village}")
    page.emulate_media(media="print")
    assert not page.locator("nav.menu").is_visible()
    page.screenshot(path=str(shots / "notice-board-print.png"), full_page=True)
    page.context.close()
    # A steward of the village objects on the board.
    page = open_as(browser, live_site, "steward", PHONE)
    page.goto(f"{live_site.url}/notice/{village}")
    # On a phone the board reads as cards: nothing scrolls sideways, the objection link is on screen.
    assert page.evaluate("[...document.querySelectorAll('.table-wrap')].every(w => w.scrollWidth <= w.clientWidth)")
    summary = page.locator(f"form[action='/claims/{claim_id}/object'] >> xpath=ancestor::details/summary").bounding_box()
    assert summary is not None and summary["x"] + summary["width"] <= PHONE["width"]
    row = page.locator(f"form[action='/claims/{claim_id}/object']")
    page.locator(f"form[action='/claims/{claim_id}/object'] >> xpath=ancestor::details/summary").click()
    row.locator("textarea").fill("送饭的是她儿子,不是她本人")
    row.locator("button").click()
    expect(page.locator("body")).to_contain_text("异议已提交")
    page.context.close()
    # The committee hears the objection and dismisses it.
    page = open_as(browser, live_site, "committee", DESKTOP)
    page.goto(claim_url)
    page.fill("form[action*='/objections/'] textarea", "经走访核实,是本人送饭")
    page.click("text=处理异议")
    expect(page.locator("body")).to_contain_text("异议已处理")
    assert "公示中" in page.locator("h1").inner_text()
    page.context.close()


def test_a_household_redeems_and_the_shop_keeper_hands_over(browser: Any, topped_up: LiveSite, shots: Path) -> None:
    site = topped_up
    both_widths(browser, site, "villager", "/shop", shots, "shop")
    page = open_as(browser, site, "villager", PHONE)
    page.goto(site.url + "/shop")
    page.click("a.item:has-text('洗衣液')")
    shot(page, shots, "shop-item")
    before = site.ctx.ledger.balance("moral", "h", site.scope["household"].id)[0]
    page.click("text=预订兑换")
    expect(page.locator("body")).to_contain_text("已预订 洗衣液 × 1")
    assert site.ctx.ledger.balance("moral", "h", site.scope["household"].id)[0] == before - 2000
    shot(page, shots, "reservations")
    page.context.close()
    page = open_as(browser, site, "shopkeeper", DESKTOP)
    page.goto(site.url + "/shop/counter")
    page.fill("#f-household", site.scope["household"].code)
    page.click("form.filters button[type=submit]")
    card = page.locator(".card")
    assert "已预订,待领取" in card.inner_text()
    card.locator("button:has-text('交付')").first.click()
    expect(page.locator("body")).to_contain_text("已领取")
    page.locator(".card button:has-text('完成')").first.click()
    expect(page.locator("body")).to_contain_text("已完成")
    shot(page, shots, "counter")
    page.context.close()


def test_the_administrator_edits_dry_runs_and_publishes_rules(browser: Any, live_site: LiveSite, shots: Path) -> None:
    page = open_as(browser, live_site, "admin", DESKTOP)
    page.goto(live_site.url + "/admin/rules")
    live = page.locator("#f-text").input_value()
    assert "point_types:" in live
    # A mistake: an amount that is not a multiple of the step, shown beside its line.
    page.fill("#f-text", live.replace("points: {fixed: 2}", "points: {fixed: 2.25}", 1))
    page.click("button[value=check]")
    bad = page.locator("#annotated .ln.bad")
    assert bad.count() == 1
    assert "步长" in bad.first.inner_text()
    shot(page, shots, "rules-editor-error")
    # A real change: volunteering earns 3 an hour instead of 2.
    changed = live.replace("{field: hours, rate: 2}", "{field: hours, rate: 3}", 1)
    page.fill("#f-text", changed)
    page.click("button[value=diff]")
    assert page.locator("#diff .add").count() >= 1
    page.fill("#f-period", "2026-05")
    page.click("button[value=dryrun]")
    expect(page.locator("body")).to_contain_text("试算结果:2026-05")
    shot(page, shots, "rules-editor-dry-run")
    effective = (live_site.ctx.today() + timedelta(days=1)).isoformat()
    page.fill("#f-effective", effective)
    page.fill("#f-note", "志愿服务每小时 3 分")
    page.click("button[value=publish]")
    expect(page.locator("body")).to_contain_text("已发布规则版本")
    assert page.locator("table tbody tr").count() >= 2
    shot(page, shots, "rules-history")
    page.goto(live_site.url + "/admin/audit")
    expect(page.locator("body")).to_contain_text("rules.publish")
    page.context.close()


def test_the_secretary_desk_and_the_audit_log(browser: Any, live_site: LiveSite, shots: Path) -> None:
    both_widths(browser, live_site, "secretary", "/desk", shots, "desk")
    page = open_as(browser, live_site, "secretary", DESKTOP)
    page.goto(live_site.url + "/desk")
    assert page.locator("table").first.locator("tbody tr").count() >= 1
    with page.expect_download() as download:
        page.click("text=导出表格(CSV)")
    assert download.value.suggested_filename.endswith(".csv")
    page.context.close()
    both_widths(browser, live_site, "auditor", "/admin/audit", shots, "audit-log")
    both_widths(browser, live_site, "admin", "/admin/users", shots, "users")
    both_widths(browser, live_site, "admin", "/admin/people", shots, "people")


def test_every_role_reaches_its_home_page(browser: Any, live_site: LiveSite) -> None:
    landing = {"villager": "/passbook/", "party_member": "/passbook/", "grid_worker": "/claims/new", "steward": "/claims/new",
               "secretary": "/desk", "committee": "/desk/queue", "shopkeeper": "/shop/counter", "admin": "/admin",
               "auditor": "/admin/audit"}
    for role, path in landing.items():
        page = open_as(browser, live_site, role, PHONE)
        assert path in page.url, f"{role} landed on {page.url}"
        assert page.locator("nav.menu a").count() >= 3
        page.context.close()
    with live_site.ctx.engine.connect() as conn:
        assert conn.execute(select(Household.id)).first() is not None


def test_a_party_member_records_a_visit_on_the_phone(browser: Any, live_site: LiveSite, shots: Path) -> None:
    page = open_as(browser, live_site, "party_member", PHONE)
    page.goto(live_site.url + "/linkage")
    first = page.locator("ol.history > li").first
    first.locator("summary").click()
    first.locator("textarea").fill("帮老人预约了体检")
    first.locator("button[value=visit]").click()
    assert "已登记" in page.locator(".flash").first.inner_text()
    shot(page, shots, "linkage")
    page.goto(live_site.url + "/passbook")
    expect(page.locator("body")).to_contain_text("零基积分")
    shot(page, shots, "member-passbook")
    page.context.close()


def test_a_household_confirms_its_problem_and_rates_its_member_on_the_phone(browser: Any, live_site: LiveSite, shots: Path) -> None:
    code = live_site.scope["household"].code
    member = open_as(browser, live_site, "party_member", PHONE)
    member.goto(live_site.url + "/linkage")
    home = member.locator("ol.history > li", has_text=code).first
    home.locator("summary").click()
    home.locator("textarea").fill("院墙开裂,请村里看看")
    home.locator("button[value=problem]").click()
    assert "已登记" in member.locator(".flash").first.inner_text()
    member.context.close()

    page = open_as(browser, live_site, "villager", PHONE)
    page.goto(live_site.url + "/passbook")
    page.click("text=我家的问题")
    problem = page.locator("ol.history > li", has_text="院墙开裂,请村里看看").first
    assert problem.locator("button[value=resolved]").is_visible()
    shot(page, shots, "household-problems")
    problem.locator("button[value=resolved]").click()
    assert "已确认问题解决" in page.locator(".flash").first.inner_text()
    assert page.locator("ol.history > li", has_text="院墙开裂,请村里看看").first.locator(".tag.ok").is_visible()

    page.goto(live_site.url + "/linkage/rate")
    card = page.locator("section.rate-card").first
    box = card.locator("label.star").nth(4).bounding_box()
    assert box is not None and box["height"] >= 56  # a tap target an elderly thumb finds
    card.locator("label.star").nth(4).click()
    shot(page, shots, "household-rate")
    card.locator("button[type=submit]").click()
    assert "谢谢您的评价" in page.locator(".flash").first.inner_text()
    page.context.close()


def test_the_secretary_opens_the_democratic_appraisal(browser: Any, live_site: LiveSite, shots: Path) -> None:
    page = open_as(browser, live_site, "secretary", PHONE)
    page.click("nav.menu >> text=民主评议")
    assert "民主评议" in page.locator("h1").inner_text()
    shot(page, shots, "appraisal")
    page.select_option("#f-member", index=1)
    page.click("form button:has-text('开始评议')")
    assert "民主评议" in page.locator("h1").inner_text()
    shot(page, shots, "appraisal-round")
    page.context.close()
