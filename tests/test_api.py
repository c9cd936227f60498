"""The JSON API over HTTP (Flask test client) on SQLite and PostgreSQL: every endpoint, its refusals, OpenAPI."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate as validate_openapi
from sqlalchemy import Engine, func, select

import store.all_models  # noqa: F401  (create_all sees every table)
from services.context import AppContext
from store.ledger import Ledger
from store.models import Entry
from store.models_api import ApiToken
from tests.builders import County
from tests.test_shop import award, make_ctx
from web import create_app
from web.api import tokens
from web.api.cli import commands


def build_app(ctx: AppContext) -> Flask:
    """The site's app (``web.create_app``) with the test's context; the token commands as the lead registers them."""
    app = create_app({"TESTING": True, "SECRET_KEY": "test", "CONTEXT": ctx, "DATABASE_URL": str(ctx.url)})
    if "api-token" not in app.cli.commands:
        for command in commands:
            app.cli.add_command(command)
    return app


@pytest.fixture
def ctx(engine: Engine, ledger: Ledger, clock: Any) -> AppContext:
    """The services' context on the parametrised engine."""
    return make_ctx(engine, ledger, clock)


@pytest.fixture
def app(ctx: AppContext) -> Flask:
    """The application under test."""
    return build_app(ctx)


@pytest.fixture
def world(ctx: AppContext, county: County, ledger: Ledger) -> dict[str, str]:
    """A second village, points for H1 (60) and H2 (30), and a token for each kind of caller."""
    county.village("V2")
    county.grid("G3", "V2")
    county.household("H5", "G3", head="孙七")
    county.person("P5", "H5", name="孙七")
    award(ledger, "P1", "MB-10", "MB-10")
    award(ledger, "P2", "MB-10")
    now = ctx.now()

    def tok(name: str, role: str, **scope: str) -> str:
        return tokens.issue(ctx.engine, name, role, "test", now, **scope).token

    return {
        "admin": tok("admin", "admin"),
        "system": tok("import", "system"),
        "auditor": tok("aud", "auditor"),
        "keeper": tok("shop-v1", "shopkeeper", village="V1"),
        "sec": tok("sec-v1", "secretary", village="V1"),
        "com": tok("com-v1", "committee", village="V1"),
        "h1": tok("app-h1", "villager", household="H1", person="P1"),
        "h2": tok("app-h2", "villager", household="H2", person="P2"),
        "h5": tok("app-h5", "villager", household="H5", person="P5"),
    }


@pytest.fixture
def api(app: Flask, world: dict[str, str]) -> Api:
    """A client that names its caller by token."""
    return Api(app.test_client(), world)


class Api:
    """``api.get("h1", "/balances/H1")``: calls /api/v1 with that caller's token."""

    def __init__(self, client: FlaskClient, tokens_by_name: dict[str, str]):
        self.client, self.tokens = client, tokens_by_name

    def call(self, method: str, who: str | None, path: str, body: Any = None, lang: str | None = None, **kw: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        if lang:
            headers["Accept-Language"] = lang
        resp = self.client.open(f"/api/v1{path}", method=method, headers=headers,
                                json=body if body is not None else None, **kw)
        assert resp.status_code != 500, resp.get_data(as_text=True)
        assert resp.is_json or path.startswith("/docs"), resp.get_data(as_text=True)[:300]
        return resp

    def get(self, who: str | None, path: str, **kw: Any) -> Any:
        return self.call("GET", who, path, **kw)

    def post(self, who: str | None, path: str, body: Any = None, **kw: Any) -> Any:
        return self.call("POST", who, path, body if body is not None else {}, **kw)

    def patch(self, who: str | None, path: str, body: Any, **kw: Any) -> Any:
        return self.call("PATCH", who, path, body, **kw)


def item(api: Api, **kw: Any) -> int:
    """A V1 item created through the API."""
    resp = api.post("keeper", "/shop/items", {"name": "洗衣液", "price": "20", "stock": 5, **kw})
    assert resp.status_code == 201, resp.json
    return int(resp.json["item"]["id"])


# ---------------------------------------------------------------- tokens and documents
def test_no_token_bad_token_and_revoked_token_get_401(api: Api, app: Flask, ctx: AppContext) -> None:
    resp = api.get(None, "/balances/H1")
    assert resp.status_code == 401 and resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert resp.json["code"] == "api_token_missing" and "Authorization" in resp.json["message"]
    resp = api.client.get("/api/v1/balances/H1", headers={"Authorization": "Bearer jf_nope"})
    assert resp.status_code == 401 and resp.json["code"] == "api_token_invalid"
    runner = app.test_cli_runner()
    result = runner.invoke(args=["api-token", "revoke", "app-h1"])
    assert result.exit_code == 0, result.output
    assert api.get("h1", "/balances/H1").status_code == 401
    assert runner.invoke(args=["api-token", "revoke", "app-h1"]).exit_code != 0


def test_cli_issues_a_token_once_and_stores_only_its_hash(api: Api, app: Flask, ctx: AppContext) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(args=["api-token", "issue", "bank", "--role", "auditor", "--by", "admin"])
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    assert token.startswith("jf_") and len(token) > 40
    with ctx.engine.connect() as c:
        row = c.execute(select(ApiToken).where(ApiToken.name == "bank")).one()  # type: ignore[arg-type]
        stored = json.dumps([str(v) for v in c.execute(select(ApiToken.__table__)).all()])  # type: ignore[attr-defined]
    assert row.token_hash == tokens.hash_token(token) and token not in stored and row.created_by == "admin"
    assert api.client.get("/api/v1/balances/H1", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    listed = runner.invoke(args=["api-token", "list"]).output
    assert "bank\tauditor" in listed and token not in listed
    bad = runner.invoke(args=["api-token", "issue", "x", "--role", "shopkeeper"])
    assert bad.exit_code != 0 and "village" in bad.output
    dup = runner.invoke(args=["api-token", "issue", "bank", "--role", "admin"])
    assert dup.exit_code != 0 and "exists" in dup.output


def test_openapi_document_is_valid_and_public(api: Api) -> None:
    resp = api.get(None, "/openapi.json")
    assert resp.status_code == 200
    doc = resp.json
    validate_openapi(doc)
    assert doc["openapi"].startswith("3.")
    paths = doc["paths"]
    for path, method in [("/events", "post"), ("/claims", "post"), ("/claims/{claim_id}/approve", "post"),
                         ("/balances/{code}", "get"), ("/entries/{entry_id}", "get"), ("/leaderboards/{point_type}", "get"),
                         ("/shop/items", "post"), ("/shop/redemptions", "post"), ("/shop/redemptions/{redemption_id}/pickup", "post")]:
        assert method in paths[path], path
    reserve = paths["/shop/redemptions"]["post"]
    assert reserve["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ReserveIn"}
    assert {"201", "400", "401", "403", "404", "409"} <= set(reserve["responses"])
    # What the API really answers is written down: a retry's 200 beside the create's 201, a body too large.
    for path in ("/claims", "/shop/redemptions", "/claims/{claim_id}/object"):
        assert {"200", "201", "413"} <= set(paths[path]["post"]["responses"]), path
    assert "413" in paths["/events"]["post"]["responses"]
    assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert doc["components"]["schemas"]["ItemOut"]["properties"]["price"]["type"] == "string"
    page = api.get(None, "/docs", lang="en")
    assert page.status_code == 200 and "/api/v1/shop/redemptions" in page.get_data(as_text=True)
    assert "接口" in api.get(None, "/docs").get_data(as_text=True)


def test_unknown_path_and_bad_json_are_json_errors(api: Api) -> None:
    resp = api.get("admin", "/nothing/here")
    assert resp.status_code == 404 and resp.json["code"] == "api_no_route" and resp.json["message"] == "没有这个接口"
    resp = api.client.post("/api/v1/shop/redemptions", data="{not json", content_type="application/json",
                           headers={"Authorization": f"Bearer {api.tokens['h1']}", "Accept-Language": "en"})
    assert resp.status_code == 400 and resp.json["errors"] == {"_body": ["the body must be a JSON object"]}


# ---------------------------------------------------------------- events
def test_post_events_reports_each_record(api: Api, county: County) -> None:
    records = [
        {"id": "api-1", "type": "mediation", "occurred_at": "2026-05-20T10:00:00", "person": "P3", "fields": {"level": "effective"}},
        {"id": "api-2", "type": "volunteer_service", "occurred_at": "2026-05-20T10:00:00", "person": "P3", "fields": {"hours": "two"}},
        {"id": "api-3", "type": "mediation", "occurred_at": "yesterday", "person": "P3", "fields": {"level": "basic"}},
        {"id": "api-4", "type": "civility", "occurred_at": "2026-05-20T10:00:00", "person": "P3", "rule": "MB-08"},
        "not a record",
    ]
    resp = api.post("sec", "/events", {"events": records}, lang="en")
    assert resp.status_code == 200, resp.json
    results = resp.json["results"]
    assert [r["status"] for r in results] == ["recorded", "rejected", "rejected", "pending", "rejected"]
    assert results[0]["entries"][0]["amount"] == "3" and results[0]["entries"][0]["rule_id"] == "MB-03"
    assert "two" in results[1]["errors"]["hours"][0]
    assert "not understood" in results[2]["errors"]["occurred_at"][0]
    assert results[3]["claims"][0]["rule_id"] == "MB-08"
    assert resp.json["counts"] == {"recorded": 1, "rejected": 3, "pending": 1}
    zh = api.post("sec", "/events", {"events": records[1:2]}).json["results"][0]["errors"]["hours"][0]
    assert "应为" in zh and "two" in zh
    again = api.post("sec", "/events", {"events": records[:1]}).json["results"][0]
    assert again["status"] == "duplicate"


def test_post_events_refusals(api: Api) -> None:
    bad = api.post("system", "/events", {"evnts": []}, lang="zh")
    assert bad.status_code == 400
    assert bad.json["errors"] == {"events": ["必填"], "evnts": ["未知的字段"]}
    bad_en = api.post("system", "/events", {"events": []}, lang="en")
    assert bad_en.json["errors"] == {"events": ["Length must be between 1 and 5000."]}
    assert api.post("h1", "/events", {"events": [{"id": "x"}]}).status_code == 403
    assert api.post("auditor", "/events", {"events": [{"id": "x"}]}).status_code == 403
    # A V1 secretary naming V2's household learns only what a missing one would tell.
    rec = {"type": "mediation", "occurred_at": "2026-05-20T10:00:00", "fields": {"level": "basic"}}
    theirs = api.post("sec", "/events", {"events": [{**rec, "id": "s1", "person": "P5"}]}, lang="en").json["results"][0]
    nobody = api.post("sec", "/events", {"events": [{**rec, "id": "s2", "person": "P404"}]}, lang="en").json["results"][0]
    assert theirs["status"] == nobody["status"] == "rejected"
    assert theirs["errors"]["person"][0].replace("P5", "X") == nobody["errors"]["person"][0].replace("P404", "X")
    ok = api.post("admin", "/events", {"events": [{**rec, "id": "s3", "person": "P5"}]}).json["results"][0]
    assert ok["status"] == "recorded"


# ---------------------------------------------------------------- events: who may enter what (the claims' entry check)
def _tokens(api: Api, ctx: AppContext, **specs: tuple[str, dict[str, str]]) -> None:
    """More callers: name=(role, scope codes)."""
    for name, (role, scope) in specs.items():
        api.tokens[name] = tokens.issue(ctx.engine, name, role, "test", ctx.now(), **scope).token


def _event(ident: str, kind: str, person: str, **kw: Any) -> dict[str, Any]:
    return {"id": ident, "type": kind, "occurred_at": "2026-05-20T10:00:00", "person": person, **kw}


def _entries(engine: Engine, key: str) -> list[tuple[str, str]]:
    with engine.connect() as c:
        rows = c.execute(select(Entry.rule_id, Entry.amount).where(Entry.event_key == key)).all()  # type: ignore[call-overload]
    return [(r.rule_id, r.amount) for r in rows]


def test_party_member_may_not_score_itself_through_events(api: Api, ctx: AppContext, engine: Engine) -> None:
    _tokens(api, ctx, pm=("party_member", {"village": "V1", "person": "M1"}))
    records = [
        _event("pm-1", "party_day_signin", "M1"),  # PM-01 +5 about itself
        _event("pm-2", "org_life", "M1"),  # PM-02 +10
        _event("pm-3", "volunteer_service", "M1", fields={"hours": 8}),  # PM-13 +15, MB-V1 +16 to its household, VH-01 8
        _event("pm-4", "household_visit", "M1", household="H1", fields={"note": "了解用水问题"}),  # its linked household
    ]
    resp = api.post("pm", "/events", {"events": records}, lang="en")
    assert resp.status_code == 200, resp.json
    results = resp.json["results"]
    assert [r["status"] for r in results] == ["rejected", "rejected", "rejected", "recorded"], results
    for r, rule in zip(results[:3], ["PM-01", "PM-02", "PM-13"], strict=True):
        assert list(r["errors"]) == ["person"] and "about yourself" in r["errors"]["person"][0] and rule in r["errors"]["person"][0]
        assert r["ref"].startswith("#") and r["entries"] == []
    assert results[3]["entries"][0]["rule_id"] == "LH-01" and results[3]["entries"][0]["amount"] == "2"  # red household ×2
    assert resp.json["counts"] == {"rejected": 3, "recorded": 1}
    assert [_entries(engine, k) for k in ("pm-1", "pm-2", "pm-3")] == [[], [], []]
    zh = api.post("pm", "/events", {"events": records[:1]}).json["results"][0]["errors"]["person"][0]
    assert "本人或本户" in zh and "PM-01" in zh


def test_events_honour_the_rules_roles_as_claims_do(api: Api, ctx: AppContext, engine: Engine) -> None:
    _tokens(api, ctx, steward=("steward", {"village": "V1"}), pm=("party_member", {"village": "V1", "person": "M1"}))
    law = _event("st-1", "misconduct", "M1", fields={"kind": "law"})  # PM-06: roles [secretary, committee]
    refused = api.post("steward", "/events", {"events": [law, _event("st-2", "mediation", "P3", fields={"level": "basic"})]}, lang="en")
    assert refused.status_code == 200
    first, second = refused.json["results"]
    assert first["status"] == "rejected" and "steward" in first["errors"]["type"][0] and "PM-06" in first["errors"]["type"][0]
    assert second["status"] == "recorded"  # refused alone: the rest of the batch is kept
    assert _entries(engine, "st-1") == []
    claim = api.post("steward", "/claims", {"rule": "PM-06", "person": "M1", "fields": {"kind": "law"}})
    assert claim.status_code == 403 and claim.json["code"] == "wf_role_refused"
    # A record naming its rule (civility) is checked against that rule: MB-21 is the secretary's and committee's.
    named = api.post("steward", "/events", {"events": [_event("st-3", "civility", "P3", rule="MB-21")]}, lang="en").json
    assert named["results"][0]["status"] == "rejected" and "MB-21" in named["results"][0]["errors"]["rule"][0]
    # A Party member records nothing else about a villager, even one of its linked households.
    other = api.post("pm", "/events", {"events": [_event("pm-9", "party_day_signin", "P1")]}, lang="en").json["results"][0]
    assert other["status"] == "rejected" and list(other["errors"]) == ["person"], other


def test_secretary_and_committee_still_record_what_they_may(api: Api, ctx: AppContext, engine: Engine) -> None:
    _tokens(api, ctx, sec_m1=("secretary", {"village": "V1", "person": "M1"}))
    law = api.post("sec", "/events", {"events": [_event("sc-1", "misconduct", "M1", fields={"kind": "law"})]}).json["results"][0]
    assert law["status"] == "pending" and law["claims"][0]["rule_id"] == "PM-06"
    org = api.post("com", "/events", {"events": [_event("sc-2", "org_life", "M1")]}).json["results"][0]
    assert org["status"] == "recorded" and _entries(engine, "sc-2") == [("PM-02", 1000)]
    civ = api.post("com", "/events", {"events": [_event("sc-3", "civility", "P3", rule="MB-21")]}).json["results"][0]
    assert civ["status"] == "pending"
    # Any role, not only a Party member's, is refused points about itself.
    own = api.post("sec_m1", "/events", {"events": [_event("sc-4", "org_life", "M1")]}, lang="en").json["results"][0]
    assert own["status"] == "rejected" and "about yourself" in own["errors"]["person"][0]
    ok = api.post("system", "/events", {"events": [_event("sc-5", "org_life", "M1")]}).json["results"][0]
    assert ok["status"] == "recorded"  # an import token is not an enterer: as ``jifen ingest``


# ---------------------------------------------------------------- balances, entries, leaderboards
def test_balances(api: Api) -> None:
    resp = api.get("h1", "/balances/H1")
    assert resp.status_code == 200
    moral = next(a for a in resp.json["accounts"] if a["point_type"] == "moral")
    assert (moral["balance"], moral["score"], moral["grade_key"]) == ("60", "60", "star3")
    assert resp.json["holder"] == {"kind": "h", "code": "H1", "name": "张三户"}
    assert api.get("h1", "/balances/P1").status_code == 200  # a member of one's own household
    english = next(a for a in api.get("h1", "/balances/H1", lang="en").json["accounts"] if a["point_type"] == "moral")
    assert (english["name"], english["unit"]) == ("Moral credit", "pts")  # rules.yaml's name_en, the unit in English
    theirs = api.get("h1", "/balances/H2", lang="en")
    missing = api.get("h1", "/balances/H404", lang="en")
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json["message"].replace("H2", "X") == missing.json["message"].replace("H404", "X")
    assert api.get("admin", "/balances/H404").status_code == 404
    assert api.get("sec", "/balances/H5").status_code == 404
    # The shop reads no accounts: the counter's own answers (reservations, redemption) carry what it needs.
    assert api.get("keeper", "/balances/H2").status_code == 404
    assert api.get("keeper", "/balances/H2/entries").status_code == 404


def test_history_and_explanation(api: Api, engine: Engine) -> None:
    resp = api.get("h1", "/balances/H1/entries?point_type=moral&limit=1")
    assert resp.status_code == 200 and len(resp.json["entries"]) == 1 and resp.json["limit"] == 1
    entry = resp.json["entries"][0]
    assert entry["amount"] == "30" and entry["rule_id"] == "MB-10"
    everything = api.get("h1", "/balances/H1/entries?limit=500").json
    n = len(everything["entries"])
    assert n >= 2 and everything["more"] is False
    assert api.get("h1", "/balances/H1/entries?limit=1").json["more"] is True  # a page follows
    last = api.get("h1", f"/balances/H1/entries?limit=1&offset={n - 1}").json
    assert (len(last["entries"]), last["more"], last["entries"][0]["id"]) == (1, False, everything["entries"][-1]["id"])
    bad = api.get("h1", "/balances/H1/entries?limit=0")
    assert bad.status_code == 400 and bad.json["errors"] == {"limit": ["应在 1 到 500 之间"]}
    bad_en = api.get("h1", "/balances/H1/entries?limit=zero&lang=en")
    assert bad_en.json["errors"] == {"limit": ["Not a valid integer."]}
    assert api.get("h2", "/balances/H1/entries").status_code == 404
    why = api.get("h1", f"/entries/{entry['id']}", lang="en")
    assert why.status_code == 200 and why.json["rule"] == "MB-10" and why.json["amount"] == "+30"
    assert why.json["approved_by"] == "secretary" and why.json["steps"]
    assert api.get("h2", f"/entries/{entry['id']}").status_code == 404
    assert api.get("admin", "/entries/999999").status_code == 404
    with engine.connect() as c:
        assert c.execute(select(Entry.id).where(Entry.id == entry["id"])).scalar() == entry["id"]


def test_leaderboards(api: Api, county: County) -> None:
    v1 = county.ids["V1"]
    resp = api.get("h1", f"/leaderboards/moral?scope=village&scope_id={v1}&period=2026&me=H1")
    assert resp.status_code == 200, resp.json
    rows = resp.json["rows"]
    assert [(r["rank"], r["code"], r["score"]) for r in rows] == [(1, "H1", "60"), (2, "H2", "30")]
    assert resp.json["mine"]["rank"] == 1 and "tie" not in resp.json["tie_break"]
    assert "同分同名次" in resp.json["tie_break"]
    assert api.get("h1", "/leaderboards/moral", lang="en").json["period"] == "2026"
    assert api.get("h1", f"/leaderboards/moral?scope=grid&scope_id={county.ids['G1']}").status_code == 200
    assert api.get("h1", f"/leaderboards/moral?scope=village&scope_id={county.ids['V2']}").status_code == 403
    assert api.get("h1", "/leaderboards/moral?scope=village&scope_id=99999").status_code == 403
    assert api.get("admin", "/leaderboards/moral?scope=village&scope_id=99999").status_code == 404
    assert api.get("h1", "/leaderboards/nope").status_code == 404
    bad = api.get("h1", "/leaderboards/moral?period=2026-13", lang="en")
    assert bad.status_code == 400 and "2026-13" in bad.json["errors"]["period"][0]
    bad = api.get("h1", "/leaderboards/moral?scope=grid")
    assert bad.status_code == 400 and bad.json["errors"] == {"scope_id": ["必填"]}
    bad = api.get("h1", "/leaderboards/moral?scope=planet&top=0&lang=en")
    assert set(bad.json["errors"]) == {"scope", "top"}
    assert api.get("h1", "/leaderboards/moral?me=H5").status_code == 404


def test_a_masked_leaderboard_row_carries_no_code_to_match_against_another_board(api: Api, county: County) -> None:
    """H2 scores −10 in April (masked there) and +20 over the year (by name): April's row must not name H2."""
    neg = {"id": "neg-1", "type": "civility", "occurred_at": "2026-04-10T10:00:00", "person": "P2", "rule": "MB-23"}
    assert api.post("system", "/events", {"events": [neg]}).json["results"][0]["status"] == "recorded"
    v1 = county.ids["V1"]
    april = api.get("h1", f"/leaderboards/moral?scope=village&scope_id={v1}&period=2026-04").json
    assert [(r["name"], r["score"]) for r in april["rows"]] == [("李**", "-10")]
    assert april["rows"][0]["code"] == "" and set(april["rows"][0]) == {"rank", "kind", "code", "name", "score"}
    year = api.get("h1", f"/leaderboards/moral?scope=village&scope_id={v1}&period=2026").json
    assert ("H2", "李四户") in [(r["code"], r["name"]) for r in year["rows"]]
    assert "H2" not in json.dumps(april, ensure_ascii=False)
    # The household itself still finds its own rank (its own code, which it asked with).
    mine = api.get("h2", f"/leaderboards/moral?scope=village&scope_id={v1}&period=2026-04&me=H2").json["mine"]
    assert (mine["rank"], mine["code"], mine["name"]) == (1, "H2", "李**")


# ---------------------------------------------------------------- shop
def test_catalog(api: Api, county: County) -> None:
    resp = api.post("keeper", "/shop/items", {"name": "洗衣液", "price": "20", "stock": 5, "min_grade": "star1",
                                              "limit_qty": 2, "picture": "shop/soap.jpg"})
    assert resp.status_code == 201
    created = resp.json
    assert created["item"]["price"] == "20" and created["item"]["village_id"] == county.ids["V1"]
    assert created["audit"]["action"] == "shop.item.create" and created["audit"]["actor"] == "token:shop-v1"
    iid = created["item"]["id"]
    assert [i["id"] for i in api.get("h1", "/shop/items").json["items"]] == [iid]
    assert api.get("h5", "/shop/items").json["items"] == []  # V2 sees no V1 goods
    assert api.get("h5", f"/shop/items/{iid}").status_code == 404
    assert api.get("h1", f"/shop/items/{iid}").json["min_grade_name"] == "一星文明户"
    assert api.get("h1", "/shop/items/99999").status_code == 404
    upd = api.patch("keeper", f"/shop/items/{iid}", {"price": "18.5", "active": False})
    assert upd.status_code == 200 and upd.json["audit"]["detail"]["changed"]["price"] == [2000, 1850]
    assert api.get("h1", "/shop/items").json["items"] == []
    assert len(api.get("keeper", "/shop/items?include_inactive=true").json["items"]) == 1
    rs = api.post("keeper", f"/shop/items/{iid}/restock", {"qty": 10, "note": "捐赠"})
    assert rs.status_code == 200 and rs.json["item"]["stock"] == 15
    assert api.post("keeper", f"/shop/items/{iid}/restock", {"qty": -100}).status_code == 409
    assert api.post("h1", "/shop/items", {"name": "x", "price": "1"}).status_code == 403
    assert api.post("auditor", "/shop/items", {"name": "x", "price": "1"}).status_code == 403
    assert api.patch("h1", f"/shop/items/{iid}", {"price": "1"}).status_code == 403
    assert api.patch("admin", "/shop/items/99999", {"price": "1"}).status_code == 404
    bad = api.post("keeper", "/shop/items", {"name": "", "price": "1.234", "limit_per": "village"}, lang="en")
    assert bad.status_code == 400
    assert bad.json["errors"] == {"name": ["Length must be between 1 and 100."],
                                  "price": ["Not an exact amount (at most two decimals)."],
                                  "limit_per": ["Must be one of: household, person."]}
    bad_zh = api.post("keeper", "/shop/items", {"name": "", "price": "1.234", "limit_per": "village"})
    assert bad_zh.json["errors"] == {"name": ["长度应在 1 到 100 之间"], "price": ["不是精确的分值(最多两位小数)"],
                                     "limit_per": ["应为以下之一:household, person"]}
    grade = api.post("keeper", "/shop/items", {"name": "x", "price": "1", "min_grade": "star9"}, lang="en")
    assert grade.status_code == 400 and "star9" in grade.json["errors"]["min_grade"][0]


def test_a_retried_new_item_with_its_request_id_is_the_first_item(api: Api, ctx: AppContext) -> None:
    body = {"name": "香皂", "price": "5", "stock": 3, "request_id": "pos-2026-0001"}
    first = api.post("keeper", "/shop/items", body)
    assert first.status_code == 201 and first.json["replayed"] is False
    again = api.post("keeper", "/shop/items", body)  # the answer was lost; the client sends it again
    assert again.status_code == 200 and again.json["replayed"] is True
    assert again.json["item"]["id"] == first.json["item"]["id"]
    items = [i for i in api.get("keeper", "/shop/items").json["items"] if i["name"] == "香皂"]
    assert len(items) == 1
    other = api.post("keeper", "/shop/items", {**body, "name": "毛巾"}, lang="en")  # the same id for another item: a client bug
    assert other.status_code == 409 and "already created another item (香皂)" in other.json["message"]
    from store.models_web import AuditLog

    with ctx.engine.connect() as conn:  # one creation, audited once
        assert conn.execute(select(func.count()).select_from(AuditLog).where(AuditLog.action == "shop.item.create",
                                                                            AuditLog.target == f"shop_item:{items[0]['id']}")).scalar() == 1


def test_redeem_cancel_pick_up_done(api: Api, county: County) -> None:
    iid = item(api)
    body = {"item_id": iid, "request_id": "r-1"}
    resp = api.post("h1", "/shop/redemptions", body)
    assert resp.status_code == 201, resp.json
    r = resp.json
    assert (r["status"], r["amount"], r["balance"], r["household_code"]) == ("reserved", "20", "40", "H1")
    again = api.post("h1", "/shop/redemptions", body)
    assert again.status_code == 200 and again.json["id"] == r["id"] and again.json["replayed"] is True
    assert [x["id"] for x in api.get("keeper", "/shop/counter").json["redemptions"]] == [r["id"]]
    assert api.get("h1", "/shop/counter").status_code == 403
    assert api.post("h1", f"/shop/redemptions/{r['id']}/pickup").status_code == 403
    picked = api.post("keeper", f"/shop/redemptions/{r['id']}/pickup")
    assert picked.status_code == 200 and picked.json["status"] == "picked_up"
    done = api.post("keeper", f"/shop/redemptions/{r['id']}/done")
    assert done.json["status"] == "done"
    late = api.post("h1", f"/shop/redemptions/{r['id']}/cancel", {"reason": "x"}, lang="en")
    assert late.status_code == 409 and "done" in late.json["message"]
    second = api.post("h1", "/shop/redemptions", {"item_id": iid}).json
    cancelled = api.post("h1", f"/shop/redemptions/{second['id']}/cancel", {"reason": "不要了"})
    assert cancelled.status_code == 200 and cancelled.json["status"] == "cancelled" and cancelled.json["balance"] == "40"
    twice = api.post("h1", f"/shop/redemptions/{second['id']}/cancel")
    assert twice.json["replayed"] is True
    mine = api.get("h1", "/shop/redemptions").json["redemptions"]
    assert [x["id"] for x in mine] == [second["id"], r["id"]]
    assert api.get("h2", "/shop/redemptions").json["redemptions"] == []
    assert api.get("h2", f"/shop/redemptions/{r['id']}").status_code == 404
    assert api.get("admin", "/shop/redemptions/99999").status_code == 404
    assert api.post("keeper", "/shop/redemptions/99999/pickup").status_code == 404
    assert api.get("h1", "/shop/redemptions?household=H2").status_code == 404
    assert api.get("keeper", "/shop/redemptions?status=reserved").json["redemptions"] == []
    bad = api.get("keeper", "/shop/redemptions?status=lost", lang="en")
    assert bad.status_code == 400 and "status" in bad.json["errors"]


def test_redeem_refusals(api: Api, county: County) -> None:
    iid = item(api, price="25", limit_qty=1)
    short = api.post("h2", "/shop/redemptions", {"item_id": iid, "qty": 1}, lang="en")  # H2 has 30
    assert short.status_code == 201
    limit = api.post("h2", "/shop/redemptions", {"item_id": iid})
    assert limit.status_code == 409 and limit.json["code"] == "shop_limit_reached"
    big = item(api, name="运动包", price="120")
    poor = api.post("h1", "/shop/redemptions", {"item_id": big}, lang="en")
    assert poor.status_code == 409 and poor.json["message"] == "not enough points: 60 short (balance 60, needs 120)"
    assert poor.json["errors"] == {"item_id": [poor.json["message"]]}
    zh = api.post("h1", "/shop/redemptions", {"item_id": big})
    assert zh.json["message"] == "积分不足:还差 60 分(余额 60 分,需要 120 分)"
    star = item(api, name="茶苗", price="5", min_grade="star5")
    assert api.post("h1", "/shop/redemptions", {"item_id": star}).status_code == 403
    one = item(api, name="香皂", price="1", stock=1)
    assert api.post("h1", "/shop/redemptions", {"item_id": one}).status_code == 201
    sold = api.post("h1", "/shop/redemptions", {"item_id": one}, lang="en")
    assert sold.status_code == 409 and "sold out" in sold.json["message"]
    assert api.post("h1", "/shop/redemptions", {"item_id": iid, "household": "H2"}).status_code == 404
    assert api.post("h1", "/shop/redemptions", {"item_id": 99999}).status_code == 404
    assert api.post("auditor", "/shop/redemptions", {"item_id": iid, "household": "H1"}).status_code == 403
    bad = api.post("h1", "/shop/redemptions", {"item_id": "one", "qty": 0}, lang="en")
    assert bad.status_code == 400 and bad.json["errors"] == {"item_id": ["Not a valid integer."],
                                                             "qty": ["Must be greater than or equal to 1 and less than or equal to 1000."]}
    bad_zh = api.post("h1", "/shop/redemptions", {"item_id": "one", "qty": 0})
    assert bad_zh.json["errors"] == {"item_id": ["应为整数"], "qty": ["应在 1 到 1000 之间"]}
    at_counter = api.post("keeper", "/shop/redemptions", {"item_id": iid, "household": "H1", "person": "P1"})
    assert at_counter.status_code == 201 and at_counter.json["person_code"] == "P1"


# ---------------------------------------------------------------- claims
def test_claims_submit_approve_reject_object(api: Api, county: County) -> None:
    sub = api.post("h1", "/claims", {"rule": "MB-05", "person": "P1", "description": "照顾邻居老人", "key": "c-1"})
    assert sub.status_code == 201, sub.json
    assert sub.json["status"] == "pending" and sub.json["claim"]["status"] == "submitted"
    cid = sub.json["claim"]["id"]
    dup = api.post("h1", "/claims", {"rule": "MB-05", "person": "P1", "description": "照顾邻居老人", "key": "c-1"})
    assert dup.status_code == 200 and dup.json["claim"]["id"] == cid
    assert [c["id"] for c in api.get("sec", "/claims?status=submitted").json["claims"]] == [cid]
    assert api.get("h5", "/claims").json["claims"] == []
    assert api.get("h5", f"/claims/{cid}").status_code == 404
    assert api.get("admin", "/claims/99999").status_code == 404
    # Not yet on any notice board: an objection to it reads exactly as one to a claim that does not exist.
    hidden, missing = api.post("h2", f"/claims/{cid}/object", {"reason": "x"}), api.post("h2", "/claims/99999/object", {"reason": "x"})
    assert hidden.status_code == missing.status_code == 404 and hidden.json["message"] == missing.json["message"]
    assert api.get("h1", f"/claims?village_id={county.ids['V2']}").status_code == 403
    assert api.post("h1", f"/claims/{cid}/approve").status_code == 403
    ok = api.post("sec", f"/claims/{cid}/approve", {"note": "属实"})
    assert ok.status_code == 200 and ok.json["status"] == "on_notice" and ok.json["history"]
    obj = api.post("h2", f"/claims/{cid}/object", {"reason": "并无此事", "key": "o-1"})
    assert obj.status_code == 201 and obj.json["claim_id"] == cid and obj.json["objection_id"] and not obj.json["replayed"]
    retry = api.post("h2", f"/claims/{cid}/object", {"reason": "并无此事", "key": "o-1"})  # after a timeout: the first one
    assert retry.status_code == 200 and retry.json["replayed"] and retry.json["objection_id"] == obj.json["objection_id"]
    assert obj.json["claim"] is None  # a neighbour objects from the notice board without reading the file
    assert api.get("sec", f"/claims/{cid}").json["status"] == "objected"
    assert api.post("h5", f"/claims/{cid}/object", {"reason": "x"}).status_code == 403
    no_reason = api.post("h2", f"/claims/{cid}/object", {}, lang="en")
    assert no_reason.status_code == 400 and no_reason.json["errors"] == {"reason": ["Missing data for required field."]}
    other = api.post("h1", "/claims", {"rule": "MB-08", "person": "P1"}).json["claim"]["id"]
    rej = api.post("com", f"/claims/{other}/reject", {"reason": "证据不足"})
    assert rej.status_code == 200 and rej.json["status"] == "rejected" and rej.json["reason"] == "证据不足"
    again = api.post("com", f"/claims/{other}/reject", {"reason": "x"})
    assert again.status_code == 409
    bad = api.post("h1", "/claims", {"person": "P1", "points": "x"}, lang="en")
    assert bad.status_code == 400 and bad.json["errors"] == {"rule": ["Missing data for required field."]}
    unknown = api.post("h1", "/claims", {"rule": "NOPE-1", "person": "P1"})
    assert unknown.status_code == 404 and "rule" in unknown.json["errors"]
    foreign = api.post("h1", "/claims", {"rule": "MB-05", "person": "P5"})
    assert foreign.status_code == 400 and foreign.json["errors"] == {"person": ["本户没有村民 “P5”:村民只能为本户申报"]}


def test_a_code_outside_ones_area_is_answered_as_one_that_does_not_exist(api: Api, ctx: AppContext) -> None:
    """Whether a villager or household exists elsewhere is not told: the same status, field and words as a made-up code."""
    _tokens(api, ctx, pm=("party_member", {"village": "V1", "person": "M1"}), grid=("grid_worker", {"grid": "G1"}))
    cases = [  # (caller, rule, field, a code outside the caller's sight, a villager within it)
        ("h1", "MB-05", "person", "P5", "P1"), ("h1", "MB-05", "household", "H5", "P1"),
        ("pm", "LH-01", "household", "H3", "M1"), ("pm", "MB-04", "person", "P3", "P1"),
        ("grid", "MB-05", "person", "P3", "P1"), ("grid", "MB-05", "household", "H3", "P1"),
        ("com", "MB-09", "person", "P5", "P1"), ("com", "MB-09", "household", "H5", "P1"),
    ]
    for who, rule, fld, theirs, mine in cases:
        body: dict[str, Any] = {"rule": rule, "person": mine, "fields": {"level": "major"}}
        outside = api.post(who, "/claims", {**body, fld: theirs}, lang="en")
        missing = api.post(who, "/claims", {**body, fld: "X404"}, lang="en")
        assert outside.status_code == missing.status_code == 400, (who, fld, outside.json, missing.json)
        assert list(outside.json["errors"]) == [fld], (who, fld, outside.json)
        assert outside.json["errors"][fld][0].replace(theirs, "X") == missing.json["errors"][fld][0].replace("X404", "X")
        assert outside.json["code"] == missing.json["code"] and outside.json["message"].replace(theirs, "X") == \
            missing.json["message"].replace("X404", "X")
    assert api.get("sec", "/claims").json["claims"] == []  # nothing was recorded
    # A caller who may enter nothing (the shop) or not this rule is refused before any code is looked up.
    for who, rule, code in (("keeper", "wf_read_only", "MB-05"), ("h1", "wf_role_refused", "MB-09")):
        answers = {api.post(who, "/claims", {"rule": code, "person": p}).json["code"] for p in ("P1", "P2", "X404")}
        assert answers == {rule}, (who, answers)
    # County-wide callers see everything: a made-up code is simply unknown.
    assert api.post("admin", "/claims", {"rule": "MB-05", "person": "X404"}).json["code"] == "unknown_person"



def test_claims_outside_a_party_members_links_or_to_a_shopkeeper_read_as_missing(api: Api, ctx: AppContext) -> None:
    """M1 looks after H1 and H2: H3's claim is 404 to M1 and left out of its list; the shop sees no claims at all."""
    _tokens(api, ctx, pm=("party_member", {"village": "V1", "person": "M1"}))
    linked = api.post("com", "/claims", {"rule": "MB-09", "person": "P2"}).json["claim"]["id"]
    far = api.post("com", "/claims", {"rule": "MB-20", "person": "P3", "description": "聚众赌博"}).json["claim"]["id"]
    assert api.get("pm", f"/claims/{linked}").status_code == 200
    theirs, missing = api.get("pm", f"/claims/{far}", lang="en"), api.get("pm", "/claims/987654", lang="en")
    assert theirs.status_code == missing.status_code == 404 and theirs.json == missing.json
    assert [c["id"] for c in api.get("pm", "/claims").json["claims"]] == [linked]
    assert api.get("keeper", f"/claims/{linked}").status_code == 404
    assert api.get("keeper", "/claims").json["claims"] == []
    assert {c["id"] for c in api.get("com", "/claims").json["claims"]} == {linked, far}


def test_init_app_exempts_the_api_from_csrf(ctx: AppContext, world: dict[str, str], app: Flask) -> None:
    from flask_wtf.csrf import CSRFProtect

    import web.api

    assert app.extensions.get("csrf") is not None  # the site protects its forms …
    bare = Flask("bare")
    bare.config.update(SECRET_KEY="x", TESTING=True)
    CSRFProtect(bare)
    bare.extensions["jifen"] = ctx
    web.api.init_app(bare)  # … and a bare app with only the API behaves the same
    for client in (app.test_client(), bare.test_client()):
        resp = client.post("/api/v1/shop/redemptions", json={"item_id": 99999},
                           headers={"Authorization": f"Bearer {world['h1']}"})
        assert resp.status_code == 404 and resp.json["code"] == "shop_item_unknown"


def test_the_notice_board_praises_by_name_and_masks_deductions(api: Api, county: County) -> None:
    praise = api.post("h1", "/claims", {"rule": "MB-05", "person": "P1", "description": "照顾邻居老人,电话 13912345678"})
    assert api.post("sec", f"/claims/{praise.json['claim']['id']}/approve").json["status"] == "on_notice"
    minus = api.post("sec", "/claims", {"rule": "MB-22", "person": "P2", "description": "占用耕地"})
    assert api.post("com", f"/claims/{minus.json['claim']['id']}/approve").json["status"] == "on_notice"
    board = api.get("h5", f"/notice/{county.ids['V1']}")  # any token: the board is public, as the wall outside the office
    assert board.status_code == 200 and board.json["village_id"] == county.ids["V1"]
    lines = {it["amount"][:1]: it for it in board.json["items"]}
    assert (lines["-"]["name"], lines["-"]["household_code"], lines["-"]["amount"]) == ("李**", "", "-30")
    assert lines["5"]["name"] == "张三" and lines["5"]["household_code"] == "H1"
    assert "13912345678" not in board.get_data(as_text=True) and "139****5678" in lines["5"]["description"]
    assert lines["-"]["status"] == "on_notice" and lines["-"]["notice_until"]
    english = api.get("h5", f"/notice/{county.ids['V1']}", lang="en").json["items"]
    assert sorted(it["rule_name"] for it in english) == sorted(["Illegal use of farmland", "Caring for unrelated elderly, sick people or children"])
    assert api.get("h5", "/notice/99999").status_code == 404
    first, rest = api.get("admin", "/claims?limit=1").json, api.get("admin", "/claims?limit=1&offset=1").json
    assert (len(first["claims"]), first["more"], len(rest["claims"]), rest["more"]) == (1, True, 1, False)
