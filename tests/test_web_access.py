"""Access control of the site: every route with every role (and anonymous), never a 500.

Expectations come from two places: each view declares the roles it lets in
(``web.auth.require``), which gives 302-to-login for anonymous visitors and 403
for other roles; and a table of key pages with the exact answer per role,
including scope (a villager of another village gets the same 404 as for a
household that does not exist).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

import store.all_models  # noqa: F401
from services import claims as wf
from services import linkage, shop
from store.db import make_engine
from store.models_web import User
from tests.conftest import Clock
from web.testing import World, build_world

WHO = ("anonymous", "villager", "party_member", "grid_worker", "steward", "secretary", "committee", "shopkeeper", "admin",
       "auditor", "villager2", "committee2")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One county for the whole walk (CSRF off: this walk is about who may do what)."""
    from datetime import UTC, datetime

    tmp = tmp_path_factory.mktemp("access")
    engine = make_engine(f"sqlite:///{tmp / 'web.db'}")
    clock = Clock(datetime(2026, 6, 1, 0, 0, tzinfo=UTC))
    w = build_world(engine, clock, tmp / "uploads", WTF_CSRF_ENABLED=False)
    w.users["villager2"] = "villager2"
    w.users["committee2"] = "committee2"
    ctx = w.ctx
    # Something behind every id: a claim waiting, one on notice, a shop item and a reservation.
    pending = wf.submit(ctx.ledger, w.actor("grid_worker"), "MB-05", person="P1", description="照顾孤寡老人")
    on_notice = wf.submit(ctx.ledger, w.actor("grid_worker"), "MB-09", person="P2", description="美丽庭院")
    wf.approve(ctx.ledger, w.actor("committee"), on_notice.claim.id)  # type: ignore[union-attr]
    from services.actors import Actor

    item = shop.create_item(ctx, Actor("admin1", "admin"), {"name": "洗衣液", "price": 500, "stock": 10, "picture": "img/shop/laundry.svg"})
    reservation = shop.reserve(ctx, w.actor("villager"), item.item.id, qty=1)
    # A problem M1 raised for household H1 (villager1's): only that household may confirm it.
    problem = linkage.raise_problem(ctx.ledger, w.actor("party_member"), w.ids["H1"], "门前路灯坏了")
    w.ids.update(claim=pending.claim.id, notice_claim=on_notice.claim.id, item=item.item.id, redemption=reservation.id,  # type: ignore[union-attr]
                 problem=problem.record_id or 0)
    with engine.connect() as conn:
        w.ids["user"] = int(conn.execute(select(User.id).where(User.username == "villager1")).scalar_one())
    yield w
    engine.dispose()


def sample_values(w: World, name: str) -> list[Any]:
    """Values to fill a URL argument with: something that exists and something that does not."""
    table = {
        "claim_id": [w.ids["claim"], 987654], "objection_id": [987654], "appeal_id": [987654], "evidence_id": [987654],
        "redemption_id": [w.ids["redemption"], 987654], "item_id": [w.ids["item"], 987654], "version_id": [1, 987654],
        "user_id": [w.ids["user"], 987654], "village_id": [w.ids["V1"], 987654], "code": ["H1", "NOPE"],
        "action": ["pick_up", "explode"], "point_type": ["moral", "nope"], "entry_id": [1, 987654], "anything": ["x"],
        "filename": ["css/site.css"], "problem_id": [w.ids["problem"], 987654], "member_id": [w.ids["M1"], w.ids["M2"], 987654],
        "period": ["2026", "2026-Q9"],
    }
    return table.get(name, ["1"])


def urls_for(w: World, rule: Any) -> list[str]:
    """Every URL of a rule from the sample values of its arguments (the first value of each, then the others)."""
    args = sorted(rule.arguments)
    if not args:
        return [rule.rule]
    out = []
    firsts = {a: sample_values(w, a)[0] for a in args}
    combos = [firsts] + [{**firsts, a: v} for a in args for v in sample_values(w, a)[1:]]
    for combo in combos:
        url = rule.rule
        for a, v in combo.items():
            url = re.sub(rf"<(?:[a-z]+:)?{a}>", str(v), url)
        out.append(url)
    return out


def clients(w: World) -> dict[str, Any]:
    """One logged-in client per role (logging in is the slow part: once each)."""
    return {who: w.client(None if who == "anonymous" else who) for who in WHO}


def test_every_route_answers_every_role_without_error(world: World) -> None:
    app = world.app
    cs = clients(world)
    checked = 0
    problems: list[str] = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint in ("static", "auth.logout"):
            continue
        view = app.view_functions[rule.endpoint]
        roles = getattr(view, "roles", None)
        api = rule.rule.startswith("/api/")
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            for url in urls_for(world, rule):
                for who in WHO:
                    role = {"villager2": "villager", "committee2": "committee"}.get(who, who)
                    r = cs[who].open(url, method=method, data={})
                    checked += 1
                    code = r.status_code
                    if code >= 500:
                        problems.append(f"{who} {method} {url} → {code}")
                        continue
                    if api or roles is None:
                        continue
                    if who == "anonymous":
                        if code != 302 or "/login" not in r.headers.get("Location", ""):
                            problems.append(f"anonymous {method} {url} → {code}, expected a redirect to the login page")
                    elif role not in roles or (role == "auditor" and method != "GET"):
                        if code != 403:
                            problems.append(f"{who} {method} {url} → {code}, expected 403")
                    elif method == "GET" and code not in (200, 302, 404):
                        problems.append(f"{who} {method} {url} → {code}, expected 200, 302 or 404")
    assert checked > 1000
    assert not problems, "\n".join(problems)


# Key pages: the exact answer per visitor (scope included).
EXPECT: dict[str, dict[str, int]] = {
    "/": dict.fromkeys(WHO, 200),
    "/leaderboard?type=moral&scope=village&area=3&kind=year&period=2026": dict.fromkeys(WHO, 200),
    "/notice": dict.fromkeys(WHO, 200),
    "/shop": dict.fromkeys(WHO, 200),
    "/passbook/H2": {"anonymous": 302, "villager": 404, "party_member": 200, "grid_worker": 200, "steward": 200, "secretary": 200,
                     "committee": 200, "shopkeeper": 404, "admin": 200, "auditor": 200, "villager2": 404, "committee2": 404},
    "/passbook/H1": {"anonymous": 302, "villager": 200, "party_member": 200, "grid_worker": 200, "steward": 200, "secretary": 200,
                     "committee": 200, "shopkeeper": 404, "admin": 200, "auditor": 200, "villager2": 404, "committee2": 404},
    "/passbook/H5": {"anonymous": 302, "villager": 404, "party_member": 404, "grid_worker": 404, "steward": 404, "secretary": 404,
                     "committee": 404, "shopkeeper": 404, "admin": 200, "auditor": 200, "villager2": 200, "committee2": 200},
    "/passbook/P2": {"anonymous": 302, "villager": 404, "party_member": 404, "grid_worker": 200, "steward": 200, "secretary": 200,
                     "committee": 200, "shopkeeper": 404, "admin": 200, "auditor": 200, "villager2": 404, "committee2": 404},
    "/passbook/M1": {"anonymous": 302, "villager": 404, "party_member": 200, "grid_worker": 404, "steward": 200, "secretary": 200,
                     "committee": 200, "shopkeeper": 404, "admin": 200, "auditor": 200, "villager2": 404, "committee2": 404},
    "/admin/rules": {**dict.fromkeys(WHO, 403), "anonymous": 302, "admin": 200, "auditor": 200},
    "/admin/audit": {**dict.fromkeys(WHO, 403), "anonymous": 302, "admin": 200, "auditor": 200},
    "/admin/users": {**dict.fromkeys(WHO, 403), "anonymous": 302, "admin": 200, "auditor": 200, "committee": 200, "committee2": 200},
    "/desk": {**dict.fromkeys(WHO, 403), "anonymous": 302, "secretary": 200, "committee": 200, "committee2": 200, "admin": 200, "auditor": 200},
    "/shop/counter": {**dict.fromkeys(WHO, 403), "anonymous": 302, "shopkeeper": 200, "admin": 200, "auditor": 200},
    "/claims/new": {**dict.fromkeys(WHO, 200), "anonymous": 302, "shopkeeper": 403, "auditor": 403},
    # 党员联户 for the household: its problems (the member's own, officers' village) and rating its member.
    "/linkage/problems": {**dict.fromkeys(WHO, 200), "anonymous": 302, "grid_worker": 403, "steward": 403, "shopkeeper": 403},
    "/linkage/rate": {**dict.fromkeys(WHO, 403), "anonymous": 302, "villager": 200, "villager2": 200},
    # 民主评议: officers see their branch (M1 = person 4 is in B-V1, M2 = person 6 in B-V2); raters of a village score.
    "/appraisal": {**dict.fromkeys(WHO, 403), "anonymous": 302, "secretary": 200, "committee": 200, "committee2": 200, "admin": 200, "auditor": 200},
    "/appraisal/4/2026": {**dict.fromkeys(WHO, 403), "anonymous": 302, "secretary": 200, "committee": 200, "committee2": 404, "admin": 200,
                          "auditor": 200},
    "/appraisal/6/2026": {**dict.fromkeys(WHO, 403), "anonymous": 302, "secretary": 404, "committee": 404, "committee2": 200, "admin": 200,
                          "auditor": 200},
    "/appraisal/rate": {**dict.fromkeys(WHO, 200), "anonymous": 302, "shopkeeper": 403, "admin": 403, "auditor": 403},
}


@pytest.mark.parametrize("path", list(EXPECT))
def test_key_pages_answer_each_role_as_documented(world: World, path: str) -> None:
    cs = clients(world) if not hasattr(world, "_clients") else world._clients  # type: ignore[attr-defined]
    world._clients = cs  # type: ignore[attr-defined]
    got = {who: cs[who].get(path).status_code for who in WHO}
    assert got == EXPECT[path]


def test_not_yours_and_not_there_read_the_same(world: World) -> None:
    c = world.client("villager")
    theirs = c.get("/passbook/H5")
    missing = c.get("/passbook/NO-SUCH")
    assert theirs.status_code == missing.status_code == 404
    strip = re.compile(r"NO-SUCH|H5|name=\"csrf_token\" value=\"[^\"]*\"")
    assert strip.sub("", theirs.get_data(as_text=True)) == strip.sub("", missing.get_data(as_text=True))
    other_claim = world.client("villager2").get(f"/claims/{world.ids['claim']}")
    assert other_claim.status_code == 404
    assert world.client("villager2").get("/claims/987654").status_code == 404


def test_another_households_problem_reads_as_missing_and_stays_open(world: World) -> None:
    from store.models_workflow import LinkProblem

    c = world.client("villager2")
    theirs = c.post(f"/linkage/problems/{world.ids['problem']}/confirm", data={"answer": "resolved"})
    missing = c.post("/linkage/problems/987654/confirm", data={"answer": "resolved"})
    assert theirs.status_code == missing.status_code == 404
    # The two pages may differ only in the ids asked for and the CSRF token (it carries a timestamp).
    strip = re.compile(rf"/problems/(?:{world.ids['problem']}|987654)/|name=\"csrf_token\" value=\"[^\"]*\"")
    assert strip.sub("", theirs.get_data(as_text=True)) == strip.sub("", missing.get_data(as_text=True))
    assert "门前路灯坏了" not in c.get("/linkage/problems").get_data(as_text=True)
    with world.ctx.engine.connect() as conn:
        assert conn.execute(select(LinkProblem.status).where(LinkProblem.id == world.ids["problem"])).scalar_one() == "open"


def test_auditor_reads_but_never_writes(world: World) -> None:
    c = world.client("auditor")
    assert c.get("/admin/rules").status_code == 200
    assert c.post("/admin/rules", data={"text": "title: x", "action": "publish", "effective": "2026-07-01"}).status_code == 403
    assert c.post(f"/claims/{world.ids['claim']}/approve", data={}).status_code == 403
    assert c.post("/admin/users/new", data={"username": "sneaky", "role": "admin"}).status_code == 403
    assert c.get("/linkage/problems").status_code == 200
    assert c.post(f"/linkage/problems/{world.ids['problem']}/confirm", data={"answer": "resolved"}).status_code == 403
    assert c.get(f"/appraisal/{world.ids['M1']}/2026").status_code == 200
    assert c.post(f"/appraisal/{world.ids['M1']}/2026/post", data={"answer": "post"}).status_code == 403
    assert c.post("/appraisal/rate", data={"member": world.ids["M1"], "period": "2026", "score": "90"}).status_code == 403
    for action, data in (("raters", {"raters": "x"}), ("ballot", {"rater": "x", "score": "90"}), ("close", {"answer": "close"})):
        assert c.post(f"/appraisal/{world.ids['M1']}/2026/{action}", data=data).status_code == 403


def test_appraisal_rounds_of_another_branch_read_as_missing_and_stay_unchanged(world: World) -> None:
    from store.models_workflow import AppraisalRound, AppraisalScore

    m1, m2 = world.ids["M1"], world.ids["M2"]
    forms = {"raters": {"raters": "x"}, "ballot": {"rater": "x", "score": "90"}, "close": {"answer": "close"}, "post": {"answer": "post"}}
    c = world.client("committee2")  # village V2: M1 (branch B-V1) is not theirs
    for action, data in forms.items():
        assert c.post(f"/appraisal/{m1}/2026-Q3/{action}", data=data).status_code == 404
    assert c.post("/appraisal/open", data={"member": m1, "period": "2026-Q3"}).status_code == 400
    # Paper ballots are the branch secretary's and committee's: an administrator runs rounds but types in no ballot.
    assert world.client("admin").post(f"/appraisal/{m2}/2026-Q3/ballot", data=forms["ballot"]).status_code == 403
    with world.ctx.engine.connect() as conn:
        assert conn.execute(select(AppraisalRound.id).where(AppraisalRound.period == "2026-Q3")).first() is None  # type: ignore[arg-type]
        assert conn.execute(select(AppraisalScore.id).where(AppraisalScore.period == "2026-Q3")).first() is None  # type: ignore[arg-type]


def test_every_form_refuses_a_post_without_its_csrf_token(tmp_path: Path, sqlite_engine: Any, clock: Clock) -> None:
    w = build_world(sqlite_engine, clock, tmp_path / "uploads")
    c = w.client("admin")
    posts = [r for r in w.app.url_map.iter_rules() if "POST" in r.methods and not r.rule.startswith("/api/")]
    assert len(posts) > 15
    for rule in posts:
        for url in urls_for(w, rule)[:1]:
            w.ids.setdefault("claim", 1)
            w.ids.setdefault("redemption", 1)
            w.ids.setdefault("item", 1)
            w.ids.setdefault("user", 1)
            w.ids.setdefault("problem", 1)
            r = c.post(url, data={"username": "admin1"})
            assert r.status_code == 400, f"{url} accepted a POST without a CSRF token ({r.status_code})"
            assert "页面已过期" in r.get_data(as_text=True)


def test_session_cookie_is_http_only_and_lax(world: World) -> None:
    c = world.app.test_client()
    from web.testing import csrf_token

    token = csrf_token(c, "/login")
    r = c.post("/login", data={"username": "admin1", "password": world.passwords["admin1"], "csrf_token": token})
    cookie = next(h for h in r.headers.getlist("Set-Cookie") if h.startswith("jifen_session="))
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_session_cookie_is_secure_outside_debug(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from web import create_app

    monkeypatch.delenv("JIFEN_SECURE_COOKIES", raising=False)
    app = create_app({"SECRET_KEY": "k", "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"})
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_no_page_lists_a_full_id_number_or_phone(world: World) -> None:
    c = world.client("admin")
    for path in ("/admin/people", "/admin/people?q=张三", "/admin/households/H1", "/admin/households/H4", "/passbook/P1"):
        html = c.get(path).get_data(as_text=True)
        assert "330825196501011234" not in html
        assert "13912345678" not in html
        assert "13800001111" not in html
    assert "3308**********1234" in c.get("/admin/households/H1").get_data(as_text=True)


def test_unknown_claim_ids_and_pages_are_404_never_500(world: World) -> None:
    c = world.client("admin")
    for path in ("/claims/0", "/passbook/%00", "/admin/households/%27%3B--", "/admin/rules/version/0", "/shop/item/0",
                 "/notice/0", "/no/such/page", "/leaderboard?type=nope", "/leaderboard?kind=custom&start=2026-05-01&end=2026-01-01",
                 "/leaderboard?scope=grid&area=99999", "/leaderboard?period=2026-13", "/desk?period=garbage&threshold=abc"):
        code = c.get(path).status_code
        assert code in (200, 400, 404), f"{path} → {code}"


def test_claims_and_photos_outside_a_party_members_links_or_to_a_shopkeeper_read_as_missing(
        tmp_path: Path, sqlite_engine: Any, clock: Clock) -> None:
    """M1 looks after H1 and H2: a claim about H3 (and its photo) is 404 to M1, as every claim is to the shop counter."""
    import base64

    w = build_world(sqlite_engine, clock, tmp_path / "uploads", WTF_CSRF_ENABLED=False)
    config = wf.WorkflowConfig(upload_dir=tmp_path / "uploads")
    png = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
    photo = [wf.Upload("a.png", png)]
    linked = wf.submit(w.ctx.ledger, w.actor("committee"), "MB-09", person="P2", evidence=photo, config=config).claim
    far = wf.submit(w.ctx.ledger, w.actor("committee"), "MB-20", person="P3", description="聚众赌博", evidence=photo, config=config).claim
    assert linked is not None and far is not None
    member, keeper, committee = w.client("party_member"), w.client("shopkeeper"), w.client("committee")
    for c, sees in ((member, {linked.id}), (keeper, set()), (committee, {linked.id, far.id})):
        for claim in (linked, far):
            want = 200 if claim.id in sees else 404
            assert c.get(f"/claims/{claim.id}").status_code == want
            photo_page = c.get(f"/claims/evidence/{claim.evidence[0]['id']}")
            photo_page.close()  # the file a 200 sends
            assert photo_page.status_code == want
    # Not yours and not there read the same.
    strip = re.compile(rf"/claims/(?:{far.id}|987654)\b|name=\"csrf_token\" value=\"[^\"]*\"")
    assert strip.sub("", member.get(f"/claims/{far.id}").get_data(as_text=True)) == strip.sub("", member.get("/claims/987654").get_data(as_text=True))
    assert "聚众赌博" not in member.get("/claims/mine?all=1").get_data(as_text=True)
    # The counter still finds a household's balance and reservations by its code, without the passbook.
    counter = keeper.get("/shop/counter?household=H1")
    assert counter.status_code == 200 and "张三户" in counter.get_data(as_text=True)
    assert keeper.get("/passbook/H1").status_code == 404


def _alerts(html: str) -> dict[str, str]:
    """The error text shown beside each input (``e-<name>``), and the form's own (``_``)."""
    found = dict(re.findall(r'id="e-([\w-]+)" role="alert">([^<]*)<', html))
    top = re.search(r'<div class="flash error" role="alert">(.*?)</div>', html, re.S)
    if top:
        found["_"] = top.group(1).strip()
    return found


def test_a_villager_declares_a_person_rule_with_the_forms_own_choices(tmp_path: Path, sqlite_engine: Any, clock: Clock) -> None:
    """MB-05/06/08/10 are about one villager: the picker lists the household's members, the login's own person chosen."""
    from web.testing import add_user

    w = build_world(sqlite_engine, clock, tmp_path / "uploads", WTF_CSRF_ENABLED=False)
    add_user(w, "villager3", "villager", {"household_id": w.ids["H5"], "person_id": w.ids["M2"]})  # H5: P5 and M2
    for login, default in (("villager3", "M2"), ("villager1", "P1")):  # H1 has one member: P1
        c = w.client(login, lang="en")
        for rule in ("MB-05", "MB-06", "MB-08", "MB-10"):
            html = c.get(f"/claims/new?rule={rule}").get_data(as_text=True)
            picker = re.search(r'<select id="f-person".*?</select>', html, re.S)
            assert picker is not None and "our household" not in picker.group(0) and 'value=""' not in picker.group(0)
            assert re.findall(r'<option value="(\w+)" selected>', picker.group(0)) == [default]
            r = c.post(f"/claims/new?rule={rule}", data={"rule": rule, "person": default, "description": "x",
                                                          **({"points": "3"} if rule == "MB-06" else {})})
            assert r.status_code == 302, (login, rule, _alerts(r.get_data(as_text=True)))
            view = wf.get_claim(w.ctx.ledger, w.actor("admin"), int(r.headers["Location"].rsplit("/", 1)[1]))
            assert (view.rule_id, view.person_id) == (rule, w.ids[default])
    # Without a person of its own in a household of two, the picker asks; sent blank, the error is beside it.
    c = w.client("villager2", lang="en")
    picker = re.search(r'<select id="f-person".*?</select>', c.get("/claims/new?rule=MB-08").get_data(as_text=True), re.S)
    assert picker is not None and '<option value="">— choose —</option>' in picker.group(0) and " selected" not in picker.group(0)
    r = c.post("/claims/new?rule=MB-08", data={"rule": "MB-08", "person": "", "description": "x"})
    assert r.status_code == 400
    alerts = _alerts(r.get_data(as_text=True))
    assert "MB-08" in alerts.get("person", "") and "villager" in alerts["person"] and "household" not in alerts["person"], alerts


def test_the_claim_form_answers_a_code_outside_ones_area_as_one_that_does_not_exist(world: World) -> None:
    """The grid worker (G1) names P3 (grid G2) or a made-up code: the same words beside the same input."""
    c = world.client("grid_worker", lang="en")
    answers = {}
    for code in ("P3", "X404"):
        r = c.post("/claims/new?rule=MB-05", data={"rule": "MB-05", "person": code, "description": "x"})
        assert r.status_code == 400
        answers[code] = _alerts(r.get_data(as_text=True))
    assert list(answers["P3"]) == ["person"] and "within your area" in answers["P3"]["person"]
    assert answers["P3"]["person"].replace("P3", "X") == answers["X404"]["person"].replace("X404", "X")


def test_a_claim_dated_before_the_rules_says_when_they_came_into_force(world: World) -> None:
    """Not 'there is no rule MB-06': the date is before 2026-01-01, said beside the date."""
    r = world.client("villager", lang="en").post("/claims/new?rule=MB-06", data={
        "rule": "MB-06", "person": "P1", "points": "3", "occurred_on": "1900-01-01", "description": "x"})
    assert r.status_code == 400
    alerts = _alerts(r.get_data(as_text=True))
    assert list(alerts) == ["occurred_on"], alerts
    assert "1900-01-01" in alerts["occurred_on"] and "2026-01-01" in alerts["occurred_on"] and "no rule" not in alerts["occurred_on"]
