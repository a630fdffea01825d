"""The runtime gates' decisions (ALT-6 items 5-9, ALT-5 items 1, 2, 4, 8) from evidence already read.

Each function returns the PASS evidence or raises `Pending` (a named precondition is missing) or
`GateFailure` (verified broken, with the failure guide). Messages carry the profile's note.
"""

from __future__ import annotations

import psycopg

from cqt.config import Settings
from cqt.db.connect import resolve
from cqt.db.embedded import EmbeddedServerError
from cqt.envfile import SecretStatus
from cqt.gate.evidence import STALE_S, CoinglassCalls, RunSpan, covering, longest, probe
from cqt.gate.items import GUIDES
from cqt.gate.pipeline import PipelineRun, judge_pipeline
from cqt.gate.profiles import Profile
from cqt.gate.verdict import GateFailure, Pending


def duration(seconds: float) -> str:
    """`152 s`, `600 s (10.0 min)`, `86400 s (24.0 h)`: exact seconds, and a readable unit when long."""
    if seconds < 600:
        return f"{seconds:.0f} s"
    readable = f"{seconds / 60:.1f} min" if seconds < 3 * 3600 else f"{seconds / 3600:.1f} h"
    return f"{seconds:.0f} s ({readable})"


def database(settings: Settings) -> tuple[str, str]:
    """(conninfo, evidence) of the configured database, or Pending('database') with the cause and the fix."""
    try:
        target = resolve(settings)
        answer = probe(target.conninfo)
    except (psycopg.Error, EmbeddedServerError) as exc:
        cause = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        shown = settings.db_url.get_secret_value() if settings.db_url is not None else ""
        where = (
            resolve(settings, start_embedded=False).display
            if shown
            else f"embedded under {settings.pg_data_dir}"
        )
        raise Pending(
            "database", f"database unreachable: {cause} (tried {where}) — {GUIDES['database']}"
        ) from None
    return target.conninfo, f"DB_CONNECT_OK {target.display}: {answer}"


def key_status(settings: Settings) -> str:
    """Presence, length and placeholder status of the Coinglass key; never the value."""
    value = settings.coinglass_api_key.get_secret_value()
    return f"COINGLASS_API_KEY {SecretStatus.of('COINGLASS_API_KEY', value, 'settings').summary()}"


def coinglass_settings(settings: Settings, profile: Profile) -> str:
    """ALT-6 item 6 / ALT-5 item 1: Coinglass enabled with a real key."""
    status = f"COINGLASS_ENABLED={str(settings.coinglass_enabled).lower()}; {key_status(settings)}"
    if profile.local:
        raise Pending(
            "real Coinglass key",
            f"the local profile collects from the simulator with its built-in key, which is not a real Coinglass"
            f" key; a real key is judged only by --profile deployment ({status})",
        )
    if not settings.coinglass_enabled:
        raise GateFailure(f"Coinglass collection is disabled ({status}) — {GUIDES['coinglass']}")
    if not settings.coinglass_key_usable:
        raise Pending(
            "real Coinglass key", f"no real Coinglass API key configured ({status}) — {GUIDES['coinglass']}"
        )
    return status


def no_run(profile: Profile, bot_hint: str) -> Pending | GateFailure:
    """No run of the profile's source: PENDING in a deployment, FAIL when the local profile started one."""
    if profile.local:
        return GateFailure(
            f"the local profile started a simulator bot but bot_runs has no sim run: {bot_hint}"
        )
    return Pending("bot run", f"no {profile.bot_source} bot run recorded in bot_runs — {GUIDES['bot']}")


def continuous_run(runs: list[RunSpan], need_s: int, profile: Profile, bot_hint: str = "") -> str:
    """ALT-6 item 7 (need = 10 min) and ALT-5 item 2 (need = 24 h): the longest continuous run."""
    best = longest(runs)
    if best is None:
        raise no_run(profile, bot_hint)
    if best.continuous_s >= need_s:
        return f"{best.describe()} (required {duration(need_s)}){profile.note()}"
    if profile.local and need_s <= profile.continuous_s:
        # the local profile ran the bot for longer than this itself: a shorter run is a broken run
        raise GateFailure(
            f"the local bot run lasted only {duration(best.continuous_s)} of the {duration(need_s)} the local"
            f" profile ran it for: {best.describe()}; {bot_hint}"
        )
    raise Pending(
        "bot run time",
        f"only {duration(best.continuous_s)} of the required {duration(need_s)} of continuous bot run time:"
        f" longest {profile.bot_source} run is {best.describe()}{profile.note()}",
    )


def running_for(runs: list[RunSpan], window_s: int, profile: Profile, bot_hint: str = "") -> RunSpan:
    """The run the window's evidence belongs to; Pending when no running bot covers the window."""
    run = covering(runs, window_s)
    if run is not None:
        return run
    newest = runs[-1] if runs else None
    if newest is None:
        raise no_run(profile, bot_hint)
    raise Pending(
        "running bot",
        f"no {profile.bot_source} bot has been running for the last {duration(window_s)}, so the window holds no"
        f" complete evidence (newest: {newest.describe()}); run the gate while the bot runs{profile.note()}",
    )


def pipeline_checks(run: RunSpan, result: PipelineRun, profile: Profile) -> str:
    """ALT-6 item 8: the check script over the window, per-module results in the evidence."""
    return f"{judge_pipeline(result)} (window {result.window_s} s of run {run.run_id}){profile.note()}"


def coinglass_collection(
    settings: Settings, run: RunSpan, calls: CoinglassCalls, window_s: int, profile: Profile
) -> str:
    """ALT-6 item 9: ok Coinglass calls in the window of a running bot."""
    if not profile.local:
        if not settings.coinglass_enabled:
            raise GateFailure(f"COINGLASS_ENABLED=false: nothing is collected — {GUIDES['coinglass']}")
        if not settings.coinglass_key_usable:
            raise Pending(
                "real Coinglass key",
                f"no real Coinglass API key ({key_status(settings)}), so no call can be ok",
            )
    if calls.ok == 0:
        raise GateFailure(
            f"no ok Coinglass call in the last {duration(window_s)} of run {run.run_id}: {calls.describe()} —"
            f" {GUIDES['coinglass']}{profile.note()}"
        )
    return f"coinglass_call_status over the last {duration(window_s)}: {calls.describe()}{profile.note()}"


def milestone_checks(runs: list[RunSpan], results: dict[int, PipelineRun], profile: Profile) -> str:
    """ALT-5 item 4: the checks at each milestone the longest running bot has reached; FAIL beats PENDING."""
    lines, failures, waiting = [], [], []
    for name, window_s in profile.milestones():
        if window_s not in results:
            waiting.append(name)
            continue
        try:
            lines.append(f"{name}: PASS — {judge_pipeline(results[window_s])}")
        except GateFailure as exc:
            failures.append(f"{name}: FAIL — {exc}")
    if failures:
        raise GateFailure(" | ".join(failures + lines) + profile.note())
    if waiting:
        best = longest(runs)
        seen = "no running bot" if best is None else f"longest run {best.describe()}"
        raise Pending(
            "bot run time",
            f"checks not yet due at {', '.join(waiting)}: {seen}; "
            + (" | ".join(lines) if lines else "no milestone reached")
            + profile.note(),
        )
    return " | ".join(lines) + profile.note()


def due_milestones(runs: list[RunSpan], profile: Profile) -> list[int]:
    """The milestone windows a bot running now has covered."""
    return [w for _, w in profile.milestones() if covering(runs, w) is not None]


def operations_record(
    runs: list[RunSpan],
    events: list[tuple[str, int]],
    log_lines: list[tuple[str, int]],
    profile: Profile,
    bot_hint: str = "",
) -> str:
    """ALT-5 item 8: start, stop, continuous duration, stop cause, top 5 error/warning messages."""
    best = longest(runs)
    if best is None:
        raise no_run(profile, bot_hint)
    stop = f"{best.stopped_at:%Y-%m-%d %H:%M:%S} UTC" if best.stopped_at else "not stopped"
    cause = best.stop_cause or (
        "still running" if best.alive else f"none recorded (heartbeat stale > {STALE_S:.0f} s)"
    )
    top = sorted(events + log_lines, key=lambda kv: -kv[1])[:5]
    messages = "; ".join(f"{n}x {text}" for text, n in top) if top else "none"
    return (
        f"run {best.run_id}: start {best.started_at:%Y-%m-%d %H:%M:%S} UTC; stop {stop};"
        f" continuous {duration(best.continuous_s)}; stop cause {cause}; {len(runs)} {profile.bot_source} run(s)"
        f" recorded; top error/warning messages: {messages}{profile.note()}"
    )
