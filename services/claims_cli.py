"""Command line for claims, the scheduler and its jobs (added to ``jifen`` by ``services.cli``).

    jifen claims list [--status on_notice] [--village V1]
    jifen claims submit MB-08 --person P1 --description … --photo a.jpg --by grid1 --role grid_worker --actor-village V1
    jifen claims approve 12 [--amount 8] --by sec1 --role secretary --actor-village V1
    jifen claims reject 12 --reason … / object 12 --reason … / appeal 12 --reason …
    jifen claims resolve-objection 3 --uphold|--dismiss --reason …
    jifen claims resolve-appeal 2 --uphold|--dismiss --reason …
    jifen scheduler                 # the scheduler process (see services/jobs.py)
    jifen jobs list / jifen jobs run post_due_claims

Chinese by default, English with ``--lang en``. Who acts is given with ``--by`` and ``--role``
and, for scope, ``--actor-village``/``--actor-grid``/``--actor-household``/``--actor-person`` codes.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import tzinfo
from pathlib import Path
from typing import Any

import click
from sqlalchemy import select

from scoring.points import fmt
from services import claims as svc
from services.actors import ROLES, Actor
from services.errors import ServiceError
from store.db import local_minute
from store.models import Area, Branch, Household, Membership, Person


def _t(ctx: click.Context, zh: str, en: str) -> str:
    return en if ctx.obj["lang"].startswith("en") else zh


def _app(ctx: click.Context) -> Any:
    return ctx.obj["app"]


def _fail(ctx: click.Context, exc: ServiceError) -> None:
    click.echo(exc.message(ctx.obj["lang"]), err=True)
    for p in getattr(exc, "problems", []):
        click.echo(f"  {p.format(ctx.obj['lang'])}", err=True)
    sys.exit(1)


def actor_options(default_role: str = "admin") -> Callable[[Any], Any]:
    """``--by``, ``--role`` and the actor's scope by codes."""
    def wrap(f: Any) -> Any:
        for opt in reversed([
            click.option("--by", "by", default="cli", show_default=True, help="操作人用户名 / who acts"),
            click.option("--role", default=default_role, show_default=True, type=click.Choice(ROLES), help="角色 / role"),
            click.option("--actor-village", default=None, help="操作人所在村代码 / actor's village code"),
            click.option("--actor-grid", default=None, help="操作人网格代码 / actor's grid code"),
            click.option("--actor-household", default=None, help="操作人户代码 / actor's household code"),
            click.option("--actor-person", default=None, help="操作人村民代码 / actor's person code"),
        ]):
            f = opt(f)
        return f
    return wrap


def _actor(ctx: click.Context, kw: dict[str, Any]) -> Actor:
    engine = _app(ctx).engine
    with engine.connect() as conn:
        def area(code: str | None) -> int | None:
            if not code:
                return None
            ident = conn.execute(select(Area.id).where(Area.code == code)).scalar()
            if ident is None:
                sys.exit(_t(ctx, f"找不到区域 {code}", f"no area {code}"))
            return int(ident)

        village, grid = area(kw.pop("actor_village")), area(kw.pop("actor_grid"))
        person = household = None
        if code := kw.pop("actor_person"):
            person = conn.execute(select(Person.id).where(Person.code == code)).scalar()
            if person is None:
                sys.exit(_t(ctx, f"找不到村民 {code}", f"no person {code}"))
            household = household or conn.execute(select(Membership.household_id).where(
                Membership.person_id == person, Membership.valid_to.is_(None))).scalar()  # type: ignore[union-attr]
        if code := kw.pop("actor_household"):
            household = conn.execute(select(Household.id).where(Household.code == code)).scalar()
            if household is None:
                sys.exit(_t(ctx, f"找不到农户 {code}", f"no household {code}"))
        if village is None and household is not None:
            village = conn.execute(select(Household.village_id).where(Household.id == household)).scalar()
        branch = conn.execute(select(Branch.id).where(Branch.village_id == village)).scalar() if village else None
    return Actor(kw.pop("by"), kw.pop("role"), person, household, village, branch, grid)


def _line(ctx: click.Context, v: svc.ClaimView, tz: tzinfo | None = None) -> str:
    until = local_minute(v.notice_until, tz or _app(ctx).tz) if v.notice_until else ""  # the county's time, as the site shows it
    return "\t".join([f"#{v.id}", v.status_name(ctx.obj["lang"]), v.rule_id, v.rule_name, fmt(v.amount, signed=True),
                      v.person_name or v.household_name, v.household_code, until])


def _show(ctx: click.Context, v: svc.ClaimView) -> None:
    tz = _app(ctx).tz  # read once: each reading asks the database for the rules versions
    click.echo(_line(ctx, v, tz))
    if v.description:
        click.echo(f"  {_t(ctx, '说明', 'description')}: {v.description}")
    for e in v.evidence:
        click.echo(f"  {_t(ctx, '证据', 'evidence')} #{e['id']}: {e['filename']} ({e['content_type']}, {e['size']} B)")
    for h in v.history:
        arrow = f"{h.from_status or '∅'} → {h.to_status}"
        changed = ""
        if h.detail.get("proposed") and h.detail.get("amount") and h.detail["proposed"] != h.detail["amount"]:
            changed = _t(ctx, f"  分值由 {h.detail['proposed']} 改为 {h.detail['amount']}", f"  amount {h.detail['proposed']} → {h.detail['amount']}")
        click.echo(f"  {local_minute(h.at, tz)}  {h.actor} ({h.actor_role})  {h.action}: {arrow}  {h.reason}{changed}")


@click.group("claims")
def claims_group() -> None:
    """申报、审核、公示、异议与申诉 / claims, review, notice, objections and appeals."""


@claims_group.command("list")
@click.option("--status", type=click.Choice(svc.STATUSES), default=None)
@click.option("--village", default=None, help="村代码 / village code")
@click.option("--limit", default=50, show_default=True)
@actor_options()
@click.pass_context
def list_cmd(ctx: click.Context, status: str | None, village: str | None, limit: int, **kw: Any) -> None:
    """列出申报 / list claims, newest first."""
    actor = _actor(ctx, kw)
    vid = None
    if village:
        with _app(ctx).engine.connect() as conn:
            vid = conn.execute(select(Area.id).where(Area.code == village)).scalar()
        if vid is None:
            sys.exit(_t(ctx, f"找不到村 {village}", f"no village {village}"))
    rows = svc.list_claims(_app(ctx).ledger, actor, status, vid, limit=limit, lang=ctx.obj["lang"])
    tz = _app(ctx).tz  # once for the list: each reading asks the database for the rules versions
    for v in rows:
        click.echo(_line(ctx, v, tz))
    click.echo(_t(ctx, f"共 {len(rows)} 条", f"{len(rows)} claim(s)"))


@claims_group.command("show")
@click.argument("claim_id", type=int)
@actor_options()
@click.pass_context
def show_cmd(ctx: click.Context, claim_id: int, **kw: Any) -> None:
    """一条申报及其全部流转记录 / one claim with its whole history."""
    try:
        _show(ctx, svc.get_claim(_app(ctx).ledger, _actor(ctx, kw), claim_id, lang=ctx.obj["lang"]))
    except ServiceError as exc:
        _fail(ctx, exc)


@claims_group.command("submit")
@click.argument("rule_id")
@click.option("--person", default=None, help="所涉村民代码 / person concerned")
@click.option("--household", default=None, help="所涉农户代码 / household concerned")
@click.option("--at", "occurred_at", default=None, help="发生时间 / when (ISO, local time)")
@click.option("--description", default="")
@click.option("--points", default=None, help="区间规则的建议分值 / proposed amount for a range rule")
@click.option("--field", "fields", multiple=True, help="事件字段 name=value / event field")
@click.option("--photo", "photos", multiple=True, type=click.Path(exists=True, dir_okay=False), help="证据照片 / evidence photo")
@click.option("--key", default=None, help="幂等键 / idempotency key")
@actor_options("grid_worker")
@click.pass_context
def submit_cmd(ctx: click.Context, rule_id: str, person: str | None, household: str | None, occurred_at: str | None,
               description: str, points: str | None, fields: tuple[str, ...], photos: tuple[str, ...], key: str | None,
               **kw: Any) -> None:
    """申报一项积分 / declare an item of the rule table."""
    actor = _actor(ctx, kw)
    values = dict(f.split("=", 1) for f in fields if "=" in f)
    uploads = [svc.Upload(Path(p).name, Path(p).read_bytes()) for p in photos]
    try:
        res = svc.submit(_app(ctx).ledger, actor, rule_id, person=person, household=household, occurred_at=occurred_at,
                         description=description, fields=values, points=points, evidence=uploads, key=key, source="cli",
                         lang=ctx.obj["lang"])
    except ServiceError as exc:
        _fail(ctx, exc)
        return
    if res.claim is None:
        click.echo(_t(ctx, "该申报不计分:", "no points for this: ") + ";".join(res.skipped))
        return
    msg = {"pending": ("已申报,等待审核", "submitted, waiting for review"), "posted": ("无需审核,已入账", "no review needed; posted"),
           "duplicate": ("该申报已提交过,未重复记录", "already submitted; recorded once")}[res.status]
    click.echo(f"#{res.claim.id} {_t(ctx, *msg)}")


@claims_group.command("approve")
@click.argument("claim_id", type=int)
@click.option("--amount", default=None, help="区间规则的审定分值 / amount for a range rule")
@click.option("--note", default="")
@click.option("--hold", is_flag=True, help="暂不公示 / approve without starting the notice")
@actor_options("secretary")
@click.pass_context
def approve_cmd(ctx: click.Context, claim_id: int, amount: str | None, note: str, hold: bool, **kw: Any) -> None:
    """审核通过并公示 / approve and put on notice."""
    try:
        v = svc.approve(_app(ctx).ledger, _actor(ctx, kw), claim_id, amount, note, start_notice=not hold, lang=ctx.obj["lang"])
    except ServiceError as exc:
        _fail(ctx, exc)
        return
    click.echo(_line(ctx, v))


@claims_group.command("reject")
@click.argument("claim_id", type=int)
@click.option("--reason", required=True)
@actor_options("secretary")
@click.pass_context
def reject_cmd(ctx: click.Context, claim_id: int, reason: str, **kw: Any) -> None:
    """驳回申报(须说明理由)/ reject a claim, with a reason."""
    try:
        v = svc.reject(_app(ctx).ledger, _actor(ctx, kw), claim_id, reason, lang=ctx.obj["lang"])
    except ServiceError as exc:
        _fail(ctx, exc)
        return
    click.echo(_line(ctx, v))


@claims_group.command("object")
@click.argument("claim_id", type=int)
@click.option("--reason", required=True)
@actor_options("villager")
@click.pass_context
def object_cmd(ctx: click.Context, claim_id: int, reason: str, **kw: Any) -> None:
    """对公示中的申报提出异议 / object to a claim on notice."""
    try:
        oid = svc.object_to(_app(ctx).ledger, _actor(ctx, kw), claim_id, reason)
    except ServiceError as exc:
        _fail(ctx, exc)
        return
    click.echo(_t(ctx, f"异议 #{oid} 已登记,申报暂停入账", f"objection #{oid} recorded; the claim waits"))


def _decide(flag: bool | None) -> bool:
    if flag is None:
        raise click.UsageError("--uphold 或 --dismiss / give --uphold or --dismiss")
    return flag


@claims_group.command("resolve-objection")
@click.argument("objection_id", type=int)
@click.option("--uphold/--dismiss", "upheld", default=None, help="异议成立 / 不成立")
@click.option("--reason", required=True)
@actor_options("secretary")
@click.pass_context
def resolve_objection_cmd(ctx: click.Context, objection_id: int, upheld: bool | None, reason: str, **kw: Any) -> None:
    """处理异议:成立则撤销申报,不成立则公示期满后入账 / decide an objection."""
    try:
        v = svc.resolve_objection(_app(ctx).ledger, _actor(ctx, kw), objection_id, _decide(upheld), reason, lang=ctx.obj["lang"])
    except ServiceError as exc:
        _fail(ctx, exc)
        return
    click.echo(_line(ctx, v))


@claims_group.command("appeal")
@click.argument("claim_id", type=int)
@click.option("--reason", required=True)
@actor_options("villager")
@click.pass_context
def appeal_cmd(ctx: click.Context, claim_id: int, reason: str, **kw: Any) -> None:
    """对已入账的申报申诉 / appeal a posted claim."""
    try:
        aid = svc.appeal(_app(ctx).ledger, _actor(ctx, kw), claim_id, reason)
    except ServiceError as exc:
        _fail(ctx, exc)
        return
    click.echo(_t(ctx, f"申诉 #{aid} 已登记", f"appeal #{aid} recorded"))


@claims_group.command("resolve-appeal")
@click.argument("appeal_id", type=int)
@click.option("--uphold/--dismiss", "upheld", default=None, help="申诉成立(冲正)/ 不成立")
@click.option("--reason", required=True)
@actor_options("secretary")
@click.pass_context
def resolve_appeal_cmd(ctx: click.Context, appeal_id: int, upheld: bool | None, reason: str, **kw: Any) -> None:
    """处理申诉:成立则写冲正记录 / decide an appeal (upheld writes a reversing entry)."""
    try:
        v = svc.resolve_appeal(_app(ctx).ledger, _actor(ctx, kw), appeal_id, _decide(upheld), reason, lang=ctx.obj["lang"])
    except ServiceError as exc:
        _fail(ctx, exc)
        return
    click.echo(_line(ctx, v))


# ---------------------------------------------------------------- scheduler and jobs
@click.command("scheduler")
@click.pass_context
def scheduler_cmd(ctx: click.Context) -> None:
    """定时任务进程(单独运行,勿放在网站进程内)/ the scheduler process: run it on its own."""
    from services.jobs import JOBS, serve

    # Every line says it is the scheduler's: `python3 run.py` prints them beside the site's own.
    label = _t(ctx, "定时任务", "scheduler")
    for spec in JOBS.values():
        click.echo(f"[{label}] {spec.id}\t{spec.trigger}\t{_t(ctx, spec.zh, spec.en)}")
    serve(_app(ctx).ledger, echo=lambda line: click.echo(f"[{label}] {line}"),
          roles=(_t(ctx, "本进程负责执行", "this process runs the jobs"), _t(ctx, "待命:另一进程在执行", "standing by: another process runs them")))


@click.group("jobs")
def jobs_group() -> None:
    """定时任务 / scheduled jobs."""


@jobs_group.command("list")
@click.pass_context
def jobs_list(ctx: click.Context) -> None:
    """列出全部定时任务 / list the jobs."""
    from services.jobs import JOBS

    for spec in JOBS.values():
        click.echo(f"{spec.id}\t{spec.trigger}\t{_t(ctx, spec.zh, spec.en)}")


@jobs_group.command("run")
@click.argument("job_id")
@click.pass_context
def jobs_run(ctx: click.Context, job_id: str) -> None:
    """立即运行一个任务 / run one job now."""
    from services.jobs import JOBS, run_job

    if job_id not in JOBS:
        click.echo(_t(ctx, f"没有任务 {job_id}(可选:{', '.join(JOBS)})", f"no job {job_id} (one of: {', '.join(JOBS)})"), err=True)
        sys.exit(1)  # input refused (2 is for a database that cannot be used)
    result = run_job(_app(ctx).ledger, job_id)
    click.echo(f"{job_id}: {result}")


commands = [claims_group, scheduler_cmd, jobs_group]
