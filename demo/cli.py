"""``jifen demo generate``: build a demo county, publish the rules and ingest a year of events."""

from __future__ import annotations

import time
from datetime import date, timedelta
from pathlib import Path

import click
from sqlalchemy import select

from demo.generate import (
    PRESETS,
    already_built,
    build_model,
    events,
    insert_directory,
    numbered,
    spec_for,
    write_jsonl,
)
from scoring.periods import local_date
from services.claims import county_tz
from services.cli import app, t
from services.ingest import IMPORT_TRANSACTION, ingest
from store import rules_repo
from store.migrate import upgrade
from store.models import RulesVersion

RULES = Path(__file__).resolve().parent.parent / "rules.yaml"
EFFECTIVE = date(2026, 1, 1)


@click.group()
def demo() -> None:
    """示范数据 / demo data."""


@demo.command("generate")
@click.option("--size", type=click.Choice(list(PRESETS)), default="small", show_default=True,
              help="规模 / size: tiny (测试), small (演示), county (60 万人)")
@click.option("--households", type=int, default=None, help="农户数 / number of households")
@click.option("--events", "n_events", type=int, default=None, help="事件数 / number of events")
@click.option("--seed", type=int, default=None, help="随机种子 / seed (2026)")
@click.option("--events-out", type=click.Path(dir_okay=False), default=None,
              help="另存事件为 JSONL / also write the events to this JSONL file")
@click.option("--rules", "rules_path", type=click.Path(exists=True, dir_okay=False), default=str(RULES),
              show_default=True, help="未发布规则时发布此文件 / rules file published when none is")
@click.option("--batch", default=IMPORT_TRANSACTION, show_default=True, help="每个事务的事件数 / events per transaction")
@click.option("--no-ingest", is_flag=True, help="只建名录 / build the directory only")
@click.pass_context
def generate(ctx: click.Context, size: str, households: int | None, n_events: int | None, seed: int | None,
             events_out: str | None, rules_path: str, batch: int, no_ingest: bool) -> None:
    """生成示范县:名录、规则、一年的事件 / build a demo county, publish rules, ingest a year of events."""
    a = app(ctx)
    upgrade(a.url)  # a fresh database gets its tables; an up-to-date one is left alone
    spec = spec_for(size, households, n_events, seed)
    started = time.perf_counter()
    model = build_model(spec)
    if already_built(a.engine):
        click.echo(t(ctx, "示范县名录已存在,跳过建名录", "the demo county is already there; directory not rebuilt"))
    else:
        counts = insert_directory(a.engine, model)
        click.echo(t(
            ctx,
            f"名录:{spec.townships} 个乡镇,{len(model.villages)} 个村(各一个党支部),{len(model.grids)} 个网格,"
            f"{model.n_households} 户,{model.n_persons} 人,{len(model.members)} 名党员,联户 {counts.get('linkage', 0)} 对,"
            f"年内迁网格 {len(model.hh_moves)} 户、迁户 {len(model.person_moves)} 人({time.perf_counter() - started:.1f} 秒)",
            f"directory: {spec.townships} townships, {len(model.villages)} villages (a Party branch each), "
            f"{len(model.grids)} grids, {model.n_households} households, {model.n_persons} persons, "
            f"{len(model.members)} Party members, {counts.get('linkage', 0)} links; {len(model.hh_moves)} households "
            f"move grid and {len(model.person_moves)} persons move household during the year "
            f"({time.perf_counter() - started:.1f} s)",
        ))
    with a.engine.connect() as conn:
        published = conn.execute(select(RulesVersion.id)).first() is not None
    if not published:
        pub = rules_repo.publish(a.engine, Path(rules_path).read_text(encoding="utf-8"), EFFECTIVE, "demo", a.now(), rules_path)
        click.echo(t(ctx, f"已发布规则版本 {pub.version},{pub.effective} 起生效",
                     f"published rules version {pub.version}, in force from {pub.effective}"))
    # A living county: events up to yesterday, as its clock sees it (none ahead of the ledger's clock).
    yesterday = local_date(a.now(), county_tz(a.ledger)) - timedelta(days=1)
    if events_out:
        n = write_jsonl(events(model, until=yesterday), events_out)
        click.echo(t(ctx, f"已写出 {n} 条事件到 {events_out}", f"wrote {n} events to {events_out}"))
    if no_ingest:
        return
    began = time.perf_counter()
    with a.ledger.caching():
        report = ingest(a.ledger, numbered(events(model, until=yesterday)), "import", "demo", batch, keep_results=False)
    took = time.perf_counter() - began
    c = report.counts
    n = sum(c.values())
    click.echo(t(
        ctx,
        f"事件 {n} 条:记分 {c.get('recorded', 0)},待审核 {c.get('pending', 0)},未计分 {c.get('nothing', 0)},"
        f"已记录过 {c.get('duplicate', 0)},退回 {c.get('rejected', 0)}({took:.1f} 秒,每秒 {n / took if took else 0:,.0f} 条)",
        f"{n} events: {c.get('recorded', 0)} recorded, {c.get('pending', 0)} waiting for review, "
        f"{c.get('nothing', 0)} matched no points, {c.get('duplicate', 0)} already recorded, {c.get('rejected', 0)} rejected "
        f"({took:.1f} s, {n / took if took else 0:,.0f} events/s)",
    ))
    # A living notice board: claims in every state (submitted, on notice, objected, posted, appealed …).
    from services.demo_workflow import seed_workflow

    states = seed_workflow(a.engine, a.ledger, a.now)
    click.echo(t(ctx, f"申报流程示范:{states}", f"claims in every state: {states}"))


commands = [demo]
