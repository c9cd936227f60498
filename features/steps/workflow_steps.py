"""Step definitions for the workflow scenarios (features/workflow/*.feature).

Imported into ``features/test_workflow.py``. Every scenario runs through the real services
on the ``engine`` fixture (SQLite and PostgreSQL). Each action step records a snapshot of every
table and of the upload folder first, so "什么都没有改变" proves a refusal (or a job run a second
time) changed nothing.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from parse import with_pattern
from pytest_bdd import given, parsers, then, when
from sqlalchemy import Engine, select
from sqlmodel import Session, SQLModel

from scoring.points import fmt, parse_amount
from services import appraisal, claims, jobs, linkage
from services.actors import Actor
from services.errors import ServiceError
from store.ledger import Ledger
from store.models import Area, Entry, GradeSnapshot
from store.models_workflow import GradeStanding, JobReport
from store.rules_repo import publish
from tests.builders import County

TZ = ZoneInfo("Asia/Shanghai")
ROOT = Path(__file__).resolve().parents[2]
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
FILES = {
    "PNG照片": claims.Upload("院子.png", PNG),
    "超大照片": claims.Upload("big.png", PNG + b"\0" * (1024 * 1024 + 100_000)),
    "PDF文件": claims.Upload("证明.pdf", b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n"),
    "空文件": claims.Upload("empty.jpg", b""),
}
STATUS = {v[0]: k for k, v in claims.STATUS_NAMES.items()}


class WorkflowCounty(County):
    """The suite's County builder, sharing the county row if the engine steps' world made it already."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.ids: dict[str, int] = {}
        with Session(engine) as s:
            existing = s.exec(select(Area.id).where(Area.code == "C")).first()  # type: ignore[call-overload]
        self.county = existing[0] if existing else self._add(Area(code="C", name="示范县", level="county"))


class Wf:
    """One scenario's county, ledger, actors and what the last steps produced."""

    def __init__(self, engine: Engine, clock: Any, upload_dir: Path):
        self.engine, self.clock = engine, clock
        self.ledger = Ledger(engine, clock)
        self.config = claims.WorkflowConfig(upload_dir=upload_dir, max_upload_bytes=1024 * 1024, appeal_days=30)
        self.county = WorkflowCounty(engine)
        self.actors: dict[str, Actor] = {}
        self.claim_id: int | None = None
        self.objection_id: int | None = None
        self.appeal_id: int | None = None
        self.problem_id: int | None = None
        self.result: Any = None
        self.error: ServiceError | None = None
        self.before: dict[str, Any] | None = None
        self.leaders: list[jobs.Leadership] = []
        self.runs: list[Any] = []

    def snapshot(self) -> dict[str, Any]:
        """Every row of every table, and the upload folder's files."""
        out: dict[str, Any] = {}
        with self.engine.connect() as conn:
            for table in SQLModel.metadata.sorted_tables:
                out[table.name] = sorted(map(repr, conn.execute(select(table)).all()))
        d = self.config.upload_dir
        out["uploads"] = sorted(str(p.relative_to(d)) for p in d.rglob("*")) if d.exists() else []
        return out

    def act(self, fn: Callable[[], Any]) -> Any:
        """Run an action, remembering the state before it and any refusal."""
        self.before = self.snapshot()
        self.error = None
        try:
            self.result = fn()
        except ServiceError as exc:
            self.error = exc
            self.result = None
        return self.result

    def actor(self, name: str) -> Actor:
        return self.actors[name]


@with_pattern(r"\S+")
def _word(text: str) -> str:
    return text


def P(text: str) -> Any:
    """A step pattern whose ``{x:W}`` fields are single words."""
    return parsers.parse(text, extra_types={"W": _word})


# ============================================================================ fixtures
@pytest.fixture
def wf(engine: Engine, clock: Any, tmp_path: Path) -> Iterator[Wf]:
    """A fresh workflow world on the scenario's database."""
    w = Wf(engine, clock, tmp_path / "uploads")
    yield w
    for leader in w.leaders:
        leader.release()


# ============================================================================ given
@given("示范村的农户与村民已登记")
def village(wf: Wf) -> None:
    c = wf.county
    c.village("V1")
    c.grid("G1", "V1")
    c.grid("G2", "V1")
    c.household("H1", "G1", tier="red", head="张三")
    c.household("H2", "G1", tier="yellow", head="李四")
    c.household("H3", "G2", tier="orange", head="王五")
    c.household("H4", "G2", tier="yellow", head="赵六")
    c.person("P1", "H1", name="张三")
    c.person("P2", "H2", name="李四")
    c.person("P3", "H3", name="王五")
    c.person("M1", "H4", name="赵党员", member_of="B-V1")
    c.person("P4", "H4", name="赵小妹")
    for h in ("H1", "H2", "H3"):
        c.link("M1", h)
    c.village("V2")
    c.grid("G9", "V2")
    c.household("H9", "G9", head="钱九")
    c.person("P9", "H9", name="钱九")
    v1, v2 = c.ids["V1"], c.ids["V2"]

    def villager(code: str, home: str, village: int) -> Actor:
        return Actor(code.lower(), "villager", person_id=c.ids[code], household_id=c.ids[home], village_id=village)

    wf.actors = {
        "网格员": Actor("grid1", "grid_worker", village_id=v1, grid_id=c.ids["G1"]),
        "书记": Actor("sec1", "secretary", village_id=v1, branch_id=c.ids["B-V1"]),
        "村委": Actor("com1", "committee", village_id=v1, branch_id=c.ids["B-V1"]),
        "管理员": Actor("admin", "admin"),
        "党员M1": Actor("m1", "party_member", person_id=c.ids["M1"], household_id=c.ids["H4"], village_id=v1, branch_id=c.ids["B-V1"]),
        "村民P1": villager("P1", "H1", v1),
        "村民P2": villager("P2", "H2", v1),
        "村民P3": villager("P3", "H3", v1),
        "外村村民P9": villager("P9", "H9", v2),
    }


@given("县里的积分细则已发布")
def rules(wf: Wf, rules_text: str) -> None:
    publish(wf.engine, rules_text, date(2026, 1, 1), "admin", wf.clock())


@given(P("县里的积分细则已发布,道德积分有效期 {days:d} 天"))
def rules_with_validity(wf: Wf, rules_text: str, days: int) -> None:
    text = rules_text.replace("    spendable: true", f"    spendable: true\n    validity_days: {days}", 1)
    assert text != rules_text
    publish(wf.engine, text, date(2026, 5, 1), "admin", wf.clock())


def _submit(wf: Wf, who: str, person: str, rule: str, points: str | None = None, files: tuple[claims.Upload, ...] = ()) -> None:
    res = wf.act(lambda: claims.submit(wf.ledger, wf.actor(who), rule, person=person, points=points, evidence=files,
                                       description=f"{who}申报", config=wf.config))
    if res is not None and res.claim is not None:
        wf.claim_id = res.claim.id


@given(P("{who:W} 为 {person:W} 申报的 {rule:W} 已审核通过并在公示中"))
@when(P("{who:W} 为 {person:W} 申报的 {rule:W} 已审核通过并在公示中"))
def on_notice(wf: Wf, who: str, person: str, rule: str) -> None:
    _submit(wf, who, person, rule)
    assert wf.error is None, wf.error
    assert wf.claim_id is not None
    claims.approve(wf.ledger, wf.actor("村委"), wf.claim_id, config=wf.config)


@given(P("{who:W} 为 {person:W} 申报的 {rule:W} 已审核通过并已入账"))
@when(P("{who:W} 为 {person:W} 申报的 {rule:W} 已审核通过并已入账"))
def posted(wf: Wf, who: str, person: str, rule: str) -> None:
    on_notice(wf, who, person, rule)
    assert wf.claim_id is not None
    wf.clock.advance(days=claims.get_claim(wf.ledger, wf.actor("管理员"), wf.claim_id).notice_days)
    assert jobs.post_due_claims(wf.ledger, config=wf.config)["posted"] == [wf.claim_id]


# ============================================================================ when: claims
@given(P("{who:W} 为 {person:W} 申报 {rule:W}"))
@when(P("{who:W} 为 {person:W} 申报 {rule:W}"))
def submit(wf: Wf, who: str, person: str, rule: str) -> None:
    _submit(wf, who, person, rule)


@when(P("{who:W} 为 {person:W} 申报 {rule:W},建议 {points:W} 分"))
def submit_points(wf: Wf, who: str, person: str, rule: str, points: str) -> None:
    _submit(wf, who, person, rule, points=points)


@when(P("{who:W} 为 {person:W} 申报 {rule:W},附 {kind:W}"))
def submit_with_file(wf: Wf, who: str, person: str, rule: str, kind: str) -> None:
    _submit(wf, who, person, rule, files=(FILES[kind],))


@when(P("{who:W} 审核通过该申报"))
def approve(wf: Wf, who: str) -> None:
    wf.act(lambda: claims.approve(wf.ledger, wf.actor(who), wf.claim_id, config=wf.config))  # type: ignore[arg-type]


@when(P("{who:W} 审核通过该申报,分值定为 {amount:W}"))
def approve_amount(wf: Wf, who: str, amount: str) -> None:
    wf.act(lambda: claims.approve(wf.ledger, wf.actor(who), wf.claim_id, amount=amount, config=wf.config))  # type: ignore[arg-type]


@when(parsers.parse("{who} 驳回该申报,理由“{reason}”"))
@when(parsers.parse("{who} 驳回该申报,理由“”"))
def reject(wf: Wf, who: str, reason: str = "") -> None:
    wf.act(lambda: claims.reject(wf.ledger, wf.actor(who), wf.claim_id, reason))  # type: ignore[arg-type]


@when(parsers.parse("{who} 对该申报提出异议,理由“{reason}”"))
def object_to(wf: Wf, who: str, reason: str) -> None:
    oid = wf.act(lambda: claims.object_to(wf.ledger, wf.actor(who), wf.claim_id, reason))  # type: ignore[arg-type]
    if oid is not None:
        wf.objection_id = oid


@when(parsers.parse("{who} 认定异议成立,理由“{reason}”"))
def uphold_objection(wf: Wf, who: str, reason: str) -> None:
    wf.act(lambda: claims.resolve_objection(wf.ledger, wf.actor(who), wf.objection_id, True, reason, config=wf.config))  # type: ignore[arg-type]


@when(parsers.parse("{who} 认定异议不成立,理由“{reason}”"))
def dismiss_objection(wf: Wf, who: str, reason: str) -> None:
    wf.act(lambda: claims.resolve_objection(wf.ledger, wf.actor(who), wf.objection_id, False, reason, config=wf.config))  # type: ignore[arg-type]


@when(parsers.parse("{who} 对该申报提出申诉,理由“{reason}”"))
def appeal(wf: Wf, who: str, reason: str) -> None:
    aid = wf.act(lambda: claims.appeal(wf.ledger, wf.actor(who), wf.claim_id, reason))  # type: ignore[arg-type]
    if aid is not None:
        wf.appeal_id = aid


@when(parsers.parse("{who} 认定申诉成立,理由“{reason}”"))
def uphold_appeal(wf: Wf, who: str, reason: str) -> None:
    wf.act(lambda: claims.resolve_appeal(wf.ledger, wf.actor(who), wf.appeal_id, True, reason))  # type: ignore[arg-type]


@when(parsers.parse("{who} 认定申诉不成立,理由“{reason}”"))
def dismiss_appeal(wf: Wf, who: str, reason: str) -> None:
    wf.act(lambda: claims.resolve_appeal(wf.ledger, wf.actor(who), wf.appeal_id, False, reason))  # type: ignore[arg-type]


@given(P("过了 {n:d} 天"))
@when(P("过了 {n:d} 天"))
def days_pass(wf: Wf, n: int) -> None:
    wf.clock.advance(days=n)


@when(P("过了 {n:d} 小时"))
def hours_pass(wf: Wf, n: int) -> None:
    wf.clock.advance(hours=n)


@when(P("时间来到 {day:W} {hm:W}"))
def time_is(wf: Wf, day: str, hm: str) -> None:
    wf.clock.now = datetime.fromisoformat(f"{day}T{hm}").replace(tzinfo=TZ).astimezone(ZoneInfo("UTC"))


# ============================================================================ when: jobs
@when(P("运行定时任务 {job:W}"))
@when(P("再次运行定时任务 {job:W}"))
def run_job(wf: Wf, job: str) -> None:
    wf.act(lambda: jobs.run_job(wf.ledger, job))


@when(P("调度器停机 {n:d} 天后恢复,补跑全部任务"))
def downtime(wf: Wf, n: int) -> None:
    wf.clock.advance(days=n)
    leader = jobs.Leadership(wf.engine)
    wf.leaders.append(leader)
    wf.act(lambda: jobs.Runner(wf.ledger, leader).catch_up())
    leader.release()


@when("调度器又补跑一次全部任务")
def catch_up_again(wf: Wf) -> None:
    leader = jobs.Leadership(wf.engine)
    wf.leaders.append(leader)
    wf.act(lambda: jobs.Runner(wf.ledger, leader).catch_up())
    leader.release()


@when("两个调度器同时启动")
def two_schedulers(wf: Wf) -> None:
    wf.leaders = [jobs.Leadership(wf.engine), jobs.Leadership(wf.engine)]
    wf.runs = [leader.acquire() for leader in wf.leaders]


@when(P("两个调度器都触发 {job:W}"))
def both_trigger(wf: Wf, job: str) -> None:
    wf.runs = [jobs.Runner(wf.ledger, leader).run(job) for leader in wf.leaders]


@when("领先的调度器停止")
def leader_stops(wf: Wf) -> None:
    next(leader for leader in wf.leaders if leader.held).release()


# ============================================================================ when: linking and appraisal
@given(P("党员M1 走访联系户 {household:W}"))
@when(P("党员M1 走访联系户 {household:W}"))
def visit(wf: Wf, household: str) -> None:
    wf.act(lambda: linkage.record_visit(wf.ledger, wf.actor("党员M1"), wf.county.ids[household], note="走访"))


@when(parsers.parse("党员M1 收集到联系户 {household} 的问题“{summary}”"))
def problem(wf: Wf, household: str, summary: str) -> None:
    res = wf.act(lambda: linkage.raise_problem(wf.ledger, wf.actor("党员M1"), wf.county.ids[household], summary))
    assert wf.error is None, wf.error
    wf.problem_id = res.record_id


@when(P("{who:W} 确认该问题已办结"))
def confirm(wf: Wf, who: str) -> None:
    wf.act(lambda: linkage.confirm_resolution(wf.ledger, wf.actor(who), wf.problem_id))  # type: ignore[arg-type]


@when(P("{who:W} 给联系党员打 {rating:d} 分"))
def rate(wf: Wf, who: str, rating: int) -> None:
    wf.act(lambda: linkage.rate_member(wf.ledger, wf.actor(who), rating))


def _rater(wf: Wf, name: str) -> Actor:
    return Actor(name, "party_member", village_id=wf.county.ids["V1"])


@when(P("评议人给党员 {member:W} 的 {period:W} 年评议打分:"))
def scores(wf: Wf, member: str, period: str, datatable: list[list[str]]) -> None:
    for rater, score in datatable[1:]:
        appraisal.score_member(wf.ledger, _rater(wf, rater.strip()), wf.county.ids[member], period, score.strip())


@when(P("评议人 {rater:W} 给党员 {member:W} 的 {period:W} 年评议打 {score:W} 分"))
def one_score(wf: Wf, rater: str, member: str, period: str, score: str) -> None:
    wf.act(lambda: appraisal.score_member(wf.ledger, _rater(wf, rater), wf.county.ids[member], period, score))


@when(P("{who:W} 公布 {member:W} 的 {period:W} 年评议结果"))
def post_appraisal(wf: Wf, who: str, member: str, period: str) -> None:
    wf.act(lambda: appraisal.post_appraisal(wf.ledger, wf.actor(who), wf.county.ids[member], period))


@given(P("{who:W} 已开始 {member:W} 的 {period:W} 年评议"))
def round_opened(wf: Wf, who: str, member: str, period: str) -> None:
    appraisal.open_round(wf.ledger, wf.actor(who), wf.county.ids[member], period)


@when(P("{who:W} 开始 {member:W} 的 {period:W} 年评议"))
def open_round(wf: Wf, who: str, member: str, period: str) -> None:
    wf.act(lambda: appraisal.open_round(wf.ledger, wf.actor(who), wf.county.ids[member], period))


@when(P("{who:W} 开始 {member:W} 的 {period:W} 年评议,指定评议人 {names}"))
def open_round_with_raters(wf: Wf, who: str, member: str, period: str, names: str) -> None:
    raters = [n.strip() for n in names.split("、")]
    wf.act(lambda: appraisal.open_round(wf.ledger, wf.actor(who), wf.county.ids[member], period, raters))


@when(P("{who:W} 为 {member:W} 的 {period:W} 年评议添加评议人 {names}"))
def designate(wf: Wf, who: str, member: str, period: str, names: str) -> None:
    raters = [n.strip() for n in names.split("、")]
    wf.act(lambda: appraisal.designate_raters(wf.ledger, wf.actor(who), wf.county.ids[member], period, raters))


@when(P("{who:W} 结束 {member:W} 的 {period:W} 年评议"))
def close_round(wf: Wf, who: str, member: str, period: str) -> None:
    wf.act(lambda: appraisal.close_round(wf.ledger, wf.actor(who), wf.county.ids[member], period))


@when(P("{who:W} 代录评议人 {rater:W} 给党员 {member:W} 的 {period:W} 年评议打 {score:W} 分"))
def paper_ballot(wf: Wf, who: str, rater: str, member: str, period: str, score: str) -> None:
    wf.act(lambda: appraisal.score_member(wf.ledger, wf.actor(who), wf.county.ids[member], period, score, rater=rater))


@when(P("{who:W} 代录 {member:W} 的 {period:W} 年纸质评议票:"))
def paper_ballots(wf: Wf, who: str, member: str, period: str, datatable: list[list[str]]) -> None:
    for rater, score in datatable[1:]:
        appraisal.score_member(wf.ledger, wf.actor(who), wf.county.ids[member], period, score.strip(), rater=rater.strip())


@given("示范村还有第二个党支部和它的书记")
def second_branch(wf: Wf) -> None:
    from store.models import Branch

    c = wf.county
    c.ids["B2"] = c._add(Branch(code="B2", name="示范村第二党支部", village_id=c.ids["V1"]))
    wf.actors["二支部书记"] = Actor("sec2", "secretary", village_id=c.ids["V1"], branch_id=c.ids["B2"])


# ============================================================================ then
@then(parsers.parse("操作被拒绝,提示“{text}”"))
def refused(wf: Wf, text: str) -> None:
    assert wf.error is not None, "the action was not refused"
    assert text in wf.error.message("zh"), wf.error.message("zh")
    assert wf.error.message("en") != wf.error.message("zh")


@then("什么都没有改变")
def unchanged(wf: Wf) -> None:
    assert wf.before is not None
    after = wf.snapshot()
    changed = {k for k in after if after[k] != wf.before.get(k)}
    assert not changed, f"changed: {changed}"


@then(parsers.parse("该申报的状态为“{status}”"))
def status_is(wf: Wf, status: str) -> None:
    assert wf.claim_id is not None
    view = claims.get_claim(wf.ledger, wf.actor("管理员"), wf.claim_id)
    assert view.status == STATUS[status], view.status


@then(P("该申报有 {n:d} 张照片存在上传目录中"))
def photos(wf: Wf, n: int) -> None:
    view = claims.get_claim(wf.ledger, wf.actor("管理员"), wf.claim_id)  # type: ignore[arg-type]
    assert len(view.evidence) == n
    for ev in view.evidence:
        path, mime, _ = claims.evidence_file(wf.ledger, wf.actor("村民P1"), ev["id"], wf.config)
        assert path.read_bytes() == PNG and mime == "image/png"


@then(P("该申报公示至 {day:W}"))
def notice_until(wf: Wf, day: str) -> None:
    view = claims.get_claim(wf.ledger, wf.actor("管理员"), wf.claim_id)  # type: ignore[arg-type]
    assert view.notice_until is not None and view.notice_until.astimezone(TZ).date().isoformat() == day


@then(parsers.parse("该申报最后一步的理由是“{reason}”"))
def last_reason(wf: Wf, reason: str) -> None:
    view = claims.get_claim(wf.ledger, wf.actor("管理员"), wf.claim_id)  # type: ignore[arg-type]
    assert view.history[-1].reason == reason and view.reason == reason


@then("该申报的流转记录为:")
def history(wf: Wf, datatable: list[list[str]]) -> None:
    view = claims.get_claim(wf.ledger, wf.actor("管理员"), wf.claim_id)  # type: ignore[arg-type]
    got = [[h.action, h.from_status, h.to_status, h.actor] for h in view.history]
    assert got == [[c.strip() for c in row] for row in datatable[1:]]
    assert all(h.at is not None and h.actor_role for h in view.history)


@then(P("账户 {code:W} 的 {point_type:W} 余额为 {amount:W}"))
def balance(wf: Wf, code: str, point_type: str, amount: str) -> None:
    kind = "h" if code.startswith("H") else "p"
    got, _ = wf.ledger.balance(point_type, kind, wf.county.ids[code])
    assert got == parse_amount(amount), fmt(got)


@then(P("公示栏上有该申报,异议 {n:d} 条"))
def board(wf: Wf, n: int) -> None:
    items = claims.notice_board(wf.ledger, wf.county.ids["V1"])
    item = next(i for i in items if i.claim_id == wf.claim_id)
    assert item.objections == n


@then(P("该申报的入账记录已被一条 {amount:W} 分的冲正记录冲销"))
def reversed_entry(wf: Wf, amount: str) -> None:
    view = claims.get_claim(wf.ledger, wf.actor("管理员"), wf.claim_id)  # type: ignore[arg-type]
    with wf.engine.connect() as conn:
        rev = conn.execute(select(Entry).where(Entry.id == view.reversal_entry_id)).mappings().one()
        orig = conn.execute(select(Entry).where(Entry.id == view.entry_id)).mappings().one()
    assert rev["reverses_id"] == orig["id"] and rev["kind"] == "reversal"
    assert abs(rev["amount"]) == parse_amount(amount) and rev["amount"] == -orig["amount"]
    assert view.appeals[0]["reversal_entry_id"] == rev["id"]


@then(P("该问题已办结,用时 {days:d} 天"))
def resolved(wf: Wf, days: int) -> None:
    assert wf.error is None, wf.error
    items = linkage.problems(wf.ledger, wf.actor("管理员"), status="resolved")
    assert [p["days_to_resolve"] for p in items if p["id"] == wf.problem_id] == [days]


@then(P("书记看到 {member:W} 超过 {days:d} 天未走访的联系户依次为 {households}"))
def backlog(wf: Wf, member: str, days: int, households: str) -> None:
    lines = linkage.visit_backlog(wf.ledger, wf.actor("书记"), days=days)
    line = next(m for m in lines if m.code == member)
    assert [h.code for h in line.overdue] == [h.strip() for h in households.split(",")]


@then(P("评议结果为 {score:W} 分,去掉最高 {high:W} 分和最低 {low:W} 分"))
def appraisal_result(wf: Wf, score: str, high: str, low: str) -> None:
    assert wf.error is None, wf.error
    res = appraisal.appraisal(wf.ledger, wf.county.ids["M1"], "2026")
    assert res.posted and str(res.average) == score
    assert res.dropped_high == parse_amount(high) and res.dropped_low == parse_amount(low)


@then("没有出错")
def no_error(wf: Wf) -> None:
    assert wf.error is None, wf.error.message("zh")


@then(P("{member:W} 的 {period:W} 年评议共 {n:d} 张票,其中 {k:d} 张由 {who:W} 代录"))
def ballots(wf: Wf, member: str, period: str, n: int, k: int, who: str) -> None:
    scored = appraisal.who_scored(wf.ledger, wf.county.ids[member], period)
    assert len(scored) == n, scored
    assert sum(1 for e in scored.values() if e == who) == k, scored


@then(P("{year:W} 年的 {point_type:W} 等级已冻结,{code:W} 为 {score:W} 分"))
def frozen(wf: Wf, year: str, point_type: str, code: str, score: str) -> None:
    with wf.engine.connect() as conn:
        row = conn.execute(select(GradeSnapshot.score).where(
            GradeSnapshot.point_type == point_type, GradeSnapshot.period == year,
            GradeSnapshot.holder_id == wf.county.ids[code])).scalar()  # type: ignore[call-overload]
    assert row == parse_amount(score)


@then(parsers.parse("{code} 本期的 {point_type} 等级为“{grade}”"))
def standing(wf: Wf, code: str, point_type: str, grade: str) -> None:
    with wf.engine.connect() as conn:
        key = conn.execute(select(GradeStanding.grade).where(
            GradeStanding.point_type == point_type, GradeStanding.holder_id == wf.county.ids[code])).scalar()  # type: ignore[call-overload]
    ruleset = wf.ledger.versions().latest()
    assert ruleset is not None
    names = {g.key: g.name for g in ruleset.point_types[point_type].grades}
    assert names.get(key or "", "无等级") == grade


@then(P("今天的走访滞后提醒列出 {member:W},红色户 {household:W}"))
def report(wf: Wf, member: str, household: str) -> None:
    import json

    with wf.engine.connect() as conn:
        body = json.loads(conn.execute(select(JobReport.body)).scalar_one())  # type: ignore[call-overload]
    line = next(m for m in body["members"] if m["code"] == member)
    assert [h["code"] for h in line["households"]] == [household]


@then("只有一个调度器领先")
def one_leads(wf: Wf) -> None:
    assert sorted(wf.runs) == [False, True]


@then("只有领先的调度器运行了任务")
def only_leader_ran(wf: Wf) -> None:
    ran = [r for r in wf.runs if r is not None]
    assert len(ran) == 1 and ran[0]["posted"] == [wf.claim_id]
    leader = next(i for i, leader in enumerate(wf.leaders) if leader.held)
    assert wf.runs[leader] is not None


@then("另一个调度器接替领先")
def takes_over(wf: Wf) -> None:
    standby = next(leader for leader in wf.leaders if not leader.held and leader is not None)
    assert [leader.held for leader in wf.leaders].count(True) == 0
    assert standby.acquire()
