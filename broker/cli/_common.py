"""What every command module shares: consoles, settings, failing with a clear message."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from broker.adapters.settings import Settings

if TYPE_CHECKING:
    from broker.core.i18n import Translator
    from broker.core.names import Names

out = Console()
err = Console(stderr=True)


def settings() -> Settings:
    return Settings.from_env()


def translator(lang: str | None) -> Translator:
    """The translator for ``--lang``, else BROKER_LANG (bokmål by default)."""
    from broker.adapters.locale import load_translator
    from broker.core.i18n import LanguageError

    try:
        return load_translator(lang or settings().lang)
    except LanguageError as exc:
        fail(f"--lang: {exc}")


def names(s: Settings) -> Names:
    """Recipients' and organisations' names from the policies and the directory, for pages and
    reports that show them; if those do not load, the ids alone (and a warning)."""
    from broker.adapters.policy_files import load_directory, load_policy
    from broker.core.errors import BrokerError
    from broker.core.names import Names

    try:
        policy = load_policy(s.policy_dir)
        return Names.of(policy, load_directory(policy))
    except BrokerError as exc:
        err.print(f"[yellow]names not loaded, ids shown instead:[/] {escape(str(exc))}")
        return Names()


def fail(message: str, code: int = 2) -> NoReturn:
    # escaped: a message naming a pattern such as [a-z0-9] is not markup
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    raise typer.Exit(code)


def write_generated(directory: Path, files: dict[str, str], *, check: bool, command: str) -> None:
    """Write generated files (name → text) to ``directory``; with ``check``, write nothing and
    exit 1 naming each file that is missing or differs (``command`` makes them again)."""
    stale = [n for n, text in files.items() if _read(directory / n) != text]
    if check:
        if stale:
            fail(f"{directory}: {', '.join(stale)} stale or missing (run: {command})", 1)
        out.print(f"{directory}: up to date ({len(files)} files)")
        return
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")
    out.print(f"wrote {len(files)} files to {directory} ({len(stale)} changed)")


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


async def follow(
    topics: list[str],
    handle: Any,
    max_records: int | None,
    idle_timeout: float | None,
    from_beginning: bool,
    *,
    principal: str | None = None,
) -> int:
    """Consume ``topics`` as ``principal``, calling ``handle(record)``; stop at ``max_records``
    or when idle."""
    from broker.adapters.kafka.clients import consume

    n = 0
    async for record in consume(
        settings().bootstrap,
        topics,
        from_beginning=from_beginning,
        idle_timeout=idle_timeout,
        principal=principal,
    ):
        handle(record)
        n += 1
        if max_records is not None and n >= max_records:
            break
    return n


MaxOpt = Annotated[int | None, typer.Option("--max", help="stop after this many")]
IdleOpt = Annotated[float | None, typer.Option(help="stop after this many idle seconds")]
BeginOpt = Annotated[
    bool, typer.Option("--from-beginning/--new-only", help="start at the oldest or only show new")
]
LangOpt = Annotated[
    str | None, typer.Option("--lang", help="nb (bokmål) or en [default: BROKER_LANG, else nb]")
]
