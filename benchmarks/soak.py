"""The soak of the fault suite: ``wrk`` at 8 connections for ten minutes, window by window.

It scores orders the way the order system sends them (each with its own id and
``Idempotency-Key``) and, as in production, later reports the outcome of some of them:
for one order in :data:`OUTCOME_EVERY` it posts ``/v1/outcomes`` for all its lines, once
:data:`OUTCOME_LAG` more orders have been sent (so the order is committed and recorded
by then). The other lines stay open in the live state until the bound of
``features/open_lines.py`` forgets them; the soak lowers that bound
(``STOCKPILOT_MAX_OPEN_LINES``, :data:`SOAK_MAX_OPEN_LINES`) so that it is reached in
the first third of the run and the rest shows whether anything else grows.

Outcomes are delivered in full, on the promised day or on the pool's last order day if
that is earlier: an outcome reports what has happened, and the live state's clock is the
latest order day it has seen (an outcome dated after it would wait in the pending queue).

Stable (:func:`soak_ok`) means: no error or 5xx in any window; per process, the mean RSS
of the last third of the windows within :data:`RSS_TOLERANCE` of the middle third's (the
first third is warm-up: caches, the open-line bound filling); the WAL never past
:data:`WAL_BOUND_MIB`. Run it through ``benchmarks/faults.py --backends '' ...``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pandas as pd

OUTCOME_EVERY = 4  # one scored order in four gets its outcome posted ...
OUTCOME_LAG = 64  # ... once this many more orders have been sent
SOAK_MAX_OPEN_LINES = 10_000  # reached in the first minutes at this machine's ~100 orders/s
RSS_TOLERANCE = 0.03  # last third's mean RSS within 3 % of the middle third's
WAL_BOUND_MIB = 128.0  # the writer catches the WAL up past 64 MiB (docs/serving.md)

SOAK_LUA = r"""
local function lines_of(path)
  local out = {}
  for line in io.lines(path) do out[#out + 1] = line end
  return out
end
local orders = lines_of(os.getenv("SOAK_BODIES"))
local outcomes = lines_of(os.getenv("SOAK_OUTCOMES"))  -- same order as the bodies
local prefix = os.getenv("SOAK_PREFIX")
local key = os.getenv("SOAK_KEY")
local every = tonumber(os.getenv("SOAK_OUTCOME_EVERY"))
local lag = tonumber(os.getenv("SOAK_OUTCOME_LAG"))
sent_orders, sent_outcomes = 0, 0
local due = {}  -- orders whose outcome is still to post: {n, body index}, oldest first
local head, tail = 1, 0

local function post(path, id, body)
  -- wrk.format's headers replace wrk.headers (not merged): all of them, every time
  local headers = {["Content-Type"] = "application/json", ["X-API-Key"] = key,
                   ["Idempotency-Key"] = id}
  return wrk.format("POST", path, headers, body)
end

request = function()
  local first = due[head]
  if first ~= nil and sent_orders - first[1] >= lag then
    due[head] = nil
    head = head + 1
    sent_outcomes = sent_outcomes + 1
    local id = prefix .. "-" .. first[1]
    local body = string.gsub(outcomes[first[2]], "__ORDER_ID__", id)
    return post("/v1/outcomes", "outcome-" .. id, body)
  end
  sent_orders = sent_orders + 1
  local n = sent_orders
  local index = n % #orders + 1
  if n % every == 0 then
    tail = tail + 1
    due[tail] = {n, index}
  end
  local id = prefix .. "-" .. n
  return post("/v1/orders/risk", id, string.gsub(orders[index], "__ORDER_ID__", id))
end
-- per status, counted in the thread and reported once (wrk -t1: one thread)
statuses = {}
response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
local threads = {}
setup = function(thread) threads[#threads + 1] = thread end
done = function(summary, latency, requests)
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      io.write(string.format("status %d: %d\n", status, count))
    end
    io.write(string.format("orders %d outcomes %d\n",
                           thread:get("sent_orders"), thread:get("sent_outcomes")))
  end
end
"""

# wrk is a closed loop with one key: past the key's rate (1,000/s by default) it would
# measure the limiter's 429s, not the service; the soak lifts the limit (tested elsewhere).
SOAK_SETTINGS = {
    "STOCKPILOT_RATE_LIMIT_PER_SECOND": "1000000",
    "STOCKPILOT_RATE_LIMIT_BURST": "1000000",
}


def outcome_of(order: dict[str, Any], last_day: pd.Timestamp) -> dict[str, Any]:
    """The outcome the order system reports for ``order``: every line delivered in full."""
    ordered = pd.Timestamp(order["order_ts"]).normalize()
    delivered = max(ordered, min(pd.Timestamp(order["promised_date"]), last_day))
    return {
        "outcomes": [
            {
                "order_id": "__ORDER_ID__",
                "line_no": line["line_no"],
                "shipped_qty": line["qty"],
                "ship_date": ordered.date().isoformat(),
                "delivered_date": delivered.date().isoformat(),
                "status": "delivered",
            }
            for line in order["lines"]
        ]
    }


def write_bodies(pool: list[dict[str, Any]], work: Path) -> dict[str, str]:
    """The order and outcome bodies (one a line, ids as ``__ORDER_ID__``) for the Lua."""
    last_day = max(pd.Timestamp(o["order_ts"]) for o in pool).normalize()
    bodies, outcomes = work / "soak-bodies.jsonl", work / "soak-outcomes.jsonl"
    bodies.write_text(
        "".join(
            json.dumps({"orders": [{**order, "order_id": "__ORDER_ID__"}]}) + "\n" for order in pool
        )
    )
    outcomes.write_text("".join(json.dumps(outcome_of(o, last_day)) + "\n" for o in pool))
    script = work / "soak.lua"
    script.write_text(SOAK_LUA)
    return {"script": str(script), "SOAK_BODIES": str(bodies), "SOAK_OUTCOMES": str(outcomes)}


def soak(store: Any, seconds: int, window: int = 60) -> list[dict]:
    """``wrk`` at 8 connections, window by window: req/s, p99, errors, memory, WAL, and
    the live state's open lines (``store``: a started ``benchmarks.faults.Store``)."""
    import os

    assert store.server is not None
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk not found: apt-get install wrk")
    files = write_bodies(store.pool, store.work)
    windows = []
    for k in range(max(1, seconds // window)):
        env = {
            **os.environ,
            "SOAK_BODIES": files["SOAK_BODIES"],
            "SOAK_OUTCOMES": files["SOAK_OUTCOMES"],
            "SOAK_KEY": store.keys["order_system"],
            "SOAK_PREFIX": f"soak-{store.backend}-{k}",
            "SOAK_OUTCOME_EVERY": str(OUTCOME_EVERY),
            "SOAK_OUTCOME_LAG": str(OUTCOME_LAG),
        }
        out = subprocess.run(
            ["wrk", "-t1", "-c8", f"-d{window}s", "--latency", "-s", files["script"],
             f"{store.server.url}/v1/orders/risk"],
            capture_output=True, text=True, env=env, check=True,
        ).stdout  # fmt: skip
        windows.append(_window(k + 1, out, store))
    return windows


def _window(minute: int, out: str, store: Any) -> dict[str, Any]:
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    statuses = {int(s): int(n) for s, n in re.findall(r"^status (\d+): (\d+)$", out, re.M)}
    sent = re.search(r"^orders (\d+) outcomes (\d+)$", out, re.M)
    rss = store.server.rss_mib()
    live = store.server.ready()["live_state"]
    return {
        "minute": minute,
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "orders": int(sent.group(1)),
        "outcomes": int(sent.group(2)),
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p99_ms": _ms(re.search(r"99%\s+([\d.]+\w+)", out).group(1)),
        "errors": (int(non_2xx.group(1)) if non_2xx else 0)
        + (sum(map(int, re.findall(r"\d+", socket_errors.group(1)))) if socket_errors else 0),
        "5xx": sum(n for s, n in statuses.items() if s >= 500),
        "server_mib": rss["server"],
        "writer_mib": rss["writer"],
        "wal_mib": store.wal_mib(),
        "open_lines": live["open_lines"],
        "aged_out": live["aged_out"],
    }


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


# --- stable or not ---------------------------------------------------------------------


def thirds(windows: list[dict], name: str) -> tuple[float, float]:
    """Mean of ``name`` over the middle and over the last third of the windows."""
    n = len(windows)
    middle, last = windows[n // 3 : n - n // 3], windows[n - n // 3 :]
    if not middle or not last:
        return windows[0][name], windows[-1][name]
    return (
        sum(w[name] for w in middle) / len(middle),
        sum(w[name] for w in last) / len(last),
    )


def drift(windows: list[dict], name: str) -> float:
    """The last third's mean against the middle third's, as a fraction (+0.05: 5 % more)."""
    middle, last = thirds(windows, name)
    return last / middle - 1.0


def soak_ok(windows: list[dict]) -> bool:
    """No error; RSS of each process flat over the last two thirds; the WAL bounded."""
    return (
        all(w["errors"] == 0 and w["5xx"] == 0 for w in windows)
        and all(abs(drift(windows, name)) <= RSS_TOLERANCE for name in ("server_mib", "writer_mib"))
        and max(w["wal_mib"] for w in windows) <= WAL_BOUND_MIB
    )


def print_soak(backend: str, windows: list[dict], verify: str, check: str) -> None:
    print(f"soak, {backend}: wrk 8 connections, one line per window")
    print(
        f"{'minute':>6}{'requests':>10}{'orders':>8}{'outc.':>7}{'req/s':>8}{'p99 ms':>8}"
        f"{'errors':>7}{'5xx':>5}{'server MiB':>11}{'writer MiB':>11}{'WAL MiB':>8}"
        f"{'open lines':>11}{'aged out':>10}"
    )
    for w in windows:
        print(
            f"{w['minute']:>6}{w['requests']:>10}{w['orders']:>8}{w['outcomes']:>7}"
            f"{w['rps']:>8.1f}{w['p99_ms']:>8.1f}{w['errors']:>7}{w['5xx']:>5}"
            f"{w['server_mib']:>11.1f}{w['writer_mib']:>11.1f}{w['wal_mib']:>8.1f}"
            f"{w['open_lines']:>11}{w['aged_out']:>10}"
        )
    print(f"after the soak: audit verify {verify}; integrity_check {check}")
    print(soak_summary(windows))


def soak_summary(windows: list[dict]) -> str:
    p99 = [w["p99_ms"] for w in windows]
    parts = []
    for name, label in (("server_mib", "server"), ("writer_mib", "writer")):
        middle, last = thirds(windows, name)
        parts.append(
            f"{label} {windows[0][name]:.1f} -> {windows[-1][name]:.1f} MiB "
            f"(mean of the middle third {middle:.1f}, of the last {last:.1f}: "
            f"{drift(windows, name):+.1%})"
        )
    return (
        f"requests {sum(w['requests'] for w in windows)} "
        f"({sum(w['orders'] for w in windows)} orders, "
        f"{sum(w['outcomes'] for w in windows)} outcomes); "
        f"errors {sum(w['errors'] for w in windows)}, 5xx {sum(w['5xx'] for w in windows)}; "
        f"{'; '.join(parts)}; WAL at most {max(w['wal_mib'] for w in windows):.1f} MiB "
        f"(bound {WAL_BOUND_MIB:.0f}); p99 median {sorted(p99)[len(p99) // 2]:.1f} ms "
        f"(range {min(p99):.1f}-{max(p99):.1f}); stable "
        f"(no error, RSS of the last third within {RSS_TOLERANCE:.0%} of the middle third's, "
        f"WAL bounded): {'yes' if soak_ok(windows) else 'NO'}"
    )
