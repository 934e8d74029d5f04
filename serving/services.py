"""What one serving process holds: store, group committer, models, live state, policy, keys.

Built and torn down by the app's lifespan (or handed to the app factory ready-made in
tests). Readiness is false until the models and the active policy are loaded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from governance import direct_writes
from governance.access import Principal, Role, hash_token
from governance.commands import Commands
from governance.kpi_records import KpiRecords
from governance.kpis import KpiStore
from governance.policy import Policy
from governance.reads import Reads
from governance.store import migrate
from governance.store.committer import GroupCommitter
from governance.store.engine import Database
from governance.sweep import sweep
from serving.live import LiveState
from serving.metrics import COMMITS, LIMITS, SCORING, SHADOW, Metrics
from serving.model_store import ModelStore
from serving.planning import PlanningView
from serving.ratelimit import RateLimiter
from serving.scoring import OrderBatcher
from serving.shadow import OrderRiskKind, Shadow
from serving.shadow_demand import DemandKind
from serving.shadow_substitution import SubstitutionKind
from stockpilot.errors import NotReady, Unauthorized
from stockpilot.settings import Settings
from stockpilot.tracking import MODEL_NAMES

log = logging.getLogger(__name__)
SYSTEM = Principal("system:serving", Role.admin)
KEY_CACHE_SECONDS = 5.0  # a revoked key stops working within this long
POLICY_REFRESH_SECONDS = 5.0
WRITER_START_SECONDS = 30.0


@dataclass
class PolicyCache:
    """The active policy, parsed once per version and refreshed in the background."""

    policy: Policy | None = None
    checked_at: float = 0.0

    def get(self) -> Policy:
        if self.policy is None:
            raise NotReady("no active policy")
        return self.policy

    def refresh(self, reads: Reads) -> Policy:
        newer = reads.active_policy(unless_version=self.policy.version if self.policy else None)
        if newer is not None:
            self.policy = newer
        self.checked_at = time.monotonic()
        return self.policy


@dataclass
class KeyCache:
    """Authenticated keys by token hash, for a few seconds: one index probe saved per call.

    An entry never outlives its key's expiry, so an expired key stops at once; a revoked one
    within ``ttl``.
    """

    ttl: float = KEY_CACHE_SECONDS
    _entries: dict[str, tuple[float, Principal]] = field(default_factory=dict)

    def authenticate(self, reads: Reads, token: str | None) -> Principal:
        if not token:
            raise Unauthorized("missing API key: send it in the X-API-Key header")
        digest = hash_token(token)
        now = time.monotonic()
        hit = self._entries.get(digest)
        if hit is not None and hit[0] > now:
            return hit[1]
        principal, expires_at = reads.authenticate_until(token)
        keep = self.ttl
        if expires_at is not None:
            keep = min(keep, (expires_at - datetime.now(UTC)).total_seconds())
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[digest] = (now + keep, principal)
        return principal

    def clear(self) -> None:
        self._entries.clear()


@dataclass
class Services:
    settings: Settings
    db: Database
    committer: GroupCommitter
    commands: Commands
    reads: Reads
    models: ModelStore
    metrics: Metrics
    live: LiveState
    kpis: KpiStore
    planning: PlanningView
    policy: PolicyCache = field(default_factory=PolicyCache)
    keys: KeyCache = field(default_factory=KeyCache)
    scoring: OrderBatcher = field(default_factory=OrderBatcher)
    limiter: RateLimiter = field(default_factory=lambda: RateLimiter(1000.0, 2000.0))
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    # Per model, its challenger, scored off the request path (serving/shadow.py).
    shadows: dict[str, Shadow] = field(default_factory=dict)
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    @classmethod
    def open(cls, settings: Settings) -> Services:
        """Connect, check the schema, apply the first policy, load models and live state."""
        db = Database.from_settings(settings)
        migrate.require_current(db)
        direct_writes.ensure_policy(db, actor=SYSTEM, policy_file=settings.policy_file)
        reads = Reads(db)
        # The writer process starts now and reaches the store while the models load.
        committer = GroupCommitter(db, warm=["governance.command_units"]).start()
        try:
            models = ModelStore(settings.model_cache_dir)
            report = models.load()
            for name, error in report.errors.items():
                log.warning("model %s not loaded: %s", name, error)
            live = LiveState.build(models, settings)
            live.replay(*reads.live_history())
            if not committer.wait_ready(WRITER_START_SECONDS):
                log.error("the writer process has not reached the store; not ready")
        except BaseException:
            committer.close()
            raise
        services = cls(
            settings=settings,
            db=db,
            committer=committer,
            commands=Commands(
                committer,
                idempotency_retention=timedelta(hours=settings.idempotency_retention_hours),
            ),
            reads=reads,
            models=models,
            metrics=Metrics(),
            live=live,
            kpis=kpi_store(settings, db),
            planning=PlanningView(settings.data_dir),
            # The requests a pass resumes submit their writes next: one flush behind them.
            scoring=OrderBatcher(after_pass=committer.flush_soon),
            limiter=RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst),
        )
        services.metrics.watch(services.committer, COMMITS)
        services.metrics.watch(services.scoring, SCORING)
        services.metrics.watch(services.limiter, LIMITS)
        services.metrics.watch_kpis(services.kpis)
        services.metrics.watch_live(services.live)
        services.metrics.watch_monitoring(settings.home, MODEL_NAMES)
        services.policy.refresh(reads)
        services.models_changed()
        for kind in (OrderRiskKind(), SubstitutionKind(), DemandKind()):
            services.shadows[kind.model] = Shadow(settings.shadow_dir, kind)
        services.metrics.watch(services.shadows[OrderRiskKind.model], SHADOW)
        services.metrics.watch_shadows(services.shadows)
        services.load_shadow()
        return services

    @property
    def shadow(self) -> Shadow | None:
        """Order risk's shadow (the first one shadowed; its counters keep their names)."""
        return self.shadows.get(OrderRiskKind.model)

    def load_shadow(self) -> None:
        """(Re)load every model's challenger for shadow scoring (start-up and reload)."""
        for name, shadow in self.shadows.items():
            try:
                champion = self.models.get(name).version
            except NotReady:
                champion = None
            shadow.load(partial(self.models.load_alias, name, "challenger"), champion)

    @property
    def ready(self) -> bool:
        return (
            self.models.ready
            and self.policy.policy is not None
            and self.live.ready
            and self.committer.ready
        )

    def readiness(self) -> dict[str, Any]:
        served = {m.name: {"version": m.version, "source": m.source} for m in self.models.served()}
        return {
            "ready": self.ready,
            "degraded": self.models.degraded,
            "models": served,
            "missing": [n for n in self.models.names if n not in served],
            "errors": self.models.errors,
            "policy_version": self.policy.policy.version if self.policy.policy else None,
            "live_state": self.live.describe(),
            "writer": {"ready": self.committer.ready, "restarts": self.committer.restarts},
        }

    def models_changed(self) -> None:
        """After a (re)load: bring live state and metrics up to the served versions."""
        self.live.on_models_loaded(self.models)
        self.metrics.set_models([(m.name, m.version, m.source) for m in self.models.served()])

    # --- background work -----------------------------------------------------------

    def start_background(self) -> None:
        """Called on the serving event loop: it reads the writer's replies from now on."""
        self.committer.bind(asyncio.get_running_loop())
        self._tasks.append(asyncio.create_task(self._periodic_sweep()))
        self._tasks.append(asyncio.create_task(self._periodic_policy_refresh()))

    async def _periodic_sweep(self) -> None:
        while True:
            await asyncio.sleep(self.settings.expire_interval_seconds)
            try:
                result = await asyncio.to_thread(sweep, self.db)
                if result.expired:
                    log.info("expired %d queue item(s)", len(result.expired))
            except Exception:  # a failed sweep is retried next period
                log.exception("queue sweep failed")

    async def _periodic_policy_refresh(self) -> None:
        while True:
            await asyncio.sleep(POLICY_REFRESH_SECONDS)
            try:
                await asyncio.to_thread(self.policy.refresh, self.reads)
            except Exception:
                log.exception("policy refresh failed")

    async def stop_background(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    def close(self) -> None:
        self.committer.close()
        self.db.dispose()


def kpi_store(settings: Settings, db: Database) -> KpiStore:
    """KPIs over the served dataset and this store; facts cached under ``home/cache``."""
    assert settings.data_dir is not None  # Settings fills in the default
    return KpiStore(settings.data_dir, settings.home / "cache", KpiRecords(db))


def require_ready(services: Services) -> None:
    if not services.ready:
        raise NotReady("service is starting or has no model/policy loaded", **services.readiness())
