"""``jifen api-token issue|revoke|list`` (or ``flask --app web api-token …``): tokens for other systems, shown once, stored hashed."""

from __future__ import annotations

import click

from services.actors import ROLES
from web.api import tokens
from web.cli import engine_and_now


@click.group("api-token")
def api_token() -> None:
    """API 令牌 / API tokens for other systems (a village app, a bank)."""


@api_token.command("issue")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(ROLES), help="the role the token acts with")
@click.option("--village", default=None, help="village code (scope)")
@click.option("--grid", default=None, help="grid code (scope)")
@click.option("--branch", default=None, help="Party branch code (scope)")
@click.option("--household", default=None, help="household code (a household's own app)")
@click.option("--person", default=None, help="person code")
@click.option("--by", "created_by", default="cli", show_default=True, help="who issues it (for the record)")
@click.option("--days", default=tokens.VALID_DAYS, show_default=True, type=int,
              help=f"有效天数 / days it works (1–{tokens.MAX_DAYS})")
@click.pass_context
def issue(cli: click.Context, name: str, role: str, village: str | None, grid: str | None, branch: str | None, household: str | None,
          person: str | None, created_by: str, days: int) -> None:
    """签发令牌(只显示这一次)/ issue a token; it is printed once and never stored in clear."""
    engine, now = engine_and_now(cli)
    try:
        issued = tokens.issue(engine, name, role, created_by, now, village=village, household=household,
                              person=person, grid=grid, branch=branch, days=days)
    except tokens.TokenError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"令牌 / token for {issued.name} ({issued.role}), {days} 天有效 / valid {days} days — 只显示这一次 / shown only this once:")
    click.echo(issued.token)


@api_token.command("revoke")
@click.argument("name")
@click.pass_context
def revoke(cli: click.Context, name: str) -> None:
    """吊销令牌 / revoke a token by name; it stops working at once."""
    engine, now = engine_and_now(cli)
    if not tokens.revoke(engine, name, now):
        raise click.ClickException(f"no active token named {name!r}")
    click.echo(f"已吊销 / revoked: {name}")


@api_token.command("list")
@click.pass_context
def list_tokens(cli: click.Context) -> None:
    """列出令牌(不含令牌本身)/ list tokens (never the tokens themselves)."""
    for t in tokens.listing(engine_and_now(cli)[0]):
        until = f"until {t.expires_at:%Y-%m-%d}" if t.expires_at else "no expiry"
        state = f"revoked {t.revoked_at:%Y-%m-%d}" if t.revoked_at else f"active, {until}"
        click.echo(f"{t.name}\t{t.role}\t{t.prefix}…\tvillage={t.village_id or '-'}\thousehold={t.household_id or '-'}\t"
                   f"by {t.created_by} {t.created_at:%Y-%m-%d}\t{state}")


commands = [api_token]
