"""Served models: resolved from the registry alias, cached locally by version, loaded once.

At start-up each model's ``champion`` is resolved in the registry and its artifacts
copied to ``<model_cache_dir>/<name>/<version>/`` (with the run's evaluation). When
the registry is unreachable, or has no such alias, the newest cached version is
served and the store reports itself degraded. ``reload`` loads a new champion next
to the old one and swaps the reference in one assignment, so requests in flight
finish on the version they started with.
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import features  # noqa: F401  (the project's packages, before any model's code copy)
import models  # noqa: F401
from stockpilot import tracking
from stockpilot.errors import NotReady
from stockpilot.jsonable import plain

log = logging.getLogger(__name__)
META = "meta.json"


@dataclass(frozen=True)
class ServedModel:
    name: str
    version: str
    run_id: str | None
    source: str  # "registry" or "cache"
    path: Path
    pyfunc: Any
    evaluation: dict[str, Any]
    loaded_at: datetime

    @property
    def impl(self) -> Any:
        """The unwrapped python model, with the rich in-process API (explanations, …)."""
        return self.pyfunc.unwrap_python_model()

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "run_id": self.run_id,
            "source": self.source,
            "loaded_at": self.loaded_at.isoformat(),
            "evaluation": self.evaluation,
        }


@dataclass
class LoadReport:
    loaded: dict[str, str] = field(default_factory=dict)  # name -> version
    unchanged: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def _version_key(path: Path) -> tuple[int, str]:
    return (int(path.name), "") if path.name.isdigit() else (-1, path.name)


class ModelStore:
    def __init__(
        self,
        cache_dir: Path,
        names: tuple[str, ...] = tracking.MODEL_NAMES,
        alias: str = "champion",
    ) -> None:
        self.cache_dir = Path(cache_dir)
        self.names = names
        self.alias = alias
        self._models: dict[str, ServedModel] = {}
        self._lock = threading.Lock()  # one load/reload at a time; reads never wait
        self.errors: dict[str, str] = {}

    # --- reading (request path) -------------------------------------------------------

    def get(self, name: str) -> ServedModel:
        model = self._models.get(name)
        if model is None:
            raise NotReady(f"model {name!r} is not loaded", model=name)
        return model

    @property
    def ready(self) -> bool:
        return all(n in self._models for n in self.names)

    @property
    def degraded(self) -> bool:
        return bool(self.errors) or any(m.source == "cache" for m in self._models.values())

    def served(self) -> list[ServedModel]:
        return [self._models[n] for n in self.names if n in self._models]

    # --- loading ----------------------------------------------------------------------

    def load(self) -> LoadReport:
        """Resolve, cache and load every model (start-up and reload)."""
        with self._lock:
            report = LoadReport()
            models = dict(self._models)
            errors: dict[str, str] = {}
            for name in self.names:
                try:
                    candidate = self._resolve(name)
                except Exception as exc:  # registry unreachable or alias missing
                    candidate = None
                    errors[name] = f"registry: {exc.__class__.__name__}: {str(exc)[:200]}"
                current = models.get(name)
                if candidate is None:
                    if current is None:
                        cached = self._newest_cached(name)
                        if cached is None:
                            report.errors[name] = errors[name] + "; no cached version"
                            continue
                        candidate = cached
                    else:
                        report.unchanged[name] = current.version
                        continue
                version, run_id, source = candidate
                if current is not None and current.version == version:
                    report.unchanged[name] = version
                    continue
                try:
                    models[name] = self._load_version(name, version, run_id, source)
                    report.loaded[name] = version
                except Exception as exc:
                    errors[name] = f"load v{version}: {exc.__class__.__name__}: {str(exc)[:200]}"
                    report.errors[name] = errors[name]
            self._models = models  # one assignment: readers see the old or the new dict
            self.errors = errors
            return report

    def _resolve(self, name: str) -> tuple[str, str | None, str]:
        with tracking.fail_fast():
            registered = tracking.resolve(name, self.alias)
            directory = self.cache_dir / name / registered.version
            if not (directory / META).exists():
                self._download(name, registered, directory)
        return registered.version, registered.run_id, "registry"

    def _download(self, name: str, registered: tracking.RegisteredVersion, directory: Path) -> None:
        staging = directory.with_name(directory.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        tracking.download(name, registered.version, staging / "model")
        evaluation: dict[str, Any] = {}
        if registered.run_id:
            try:
                evaluation = tracking.run_artifact(registered.run_id, "evaluation.json")
            except Exception:  # a model logged without an evaluation is still servable
                log.warning("no evaluation.json for %s v%s", name, registered.version)
        meta = {
            "name": name,
            "version": registered.version,
            "run_id": registered.run_id,
            "evaluation": evaluation,
            "cached_at": datetime.now(UTC).isoformat(),
        }
        (staging / META).write_text(json.dumps(plain(meta, unknown="str")))
        shutil.rmtree(directory, ignore_errors=True)
        staging.rename(directory)

    def _newest_cached(self, name: str) -> tuple[str, str | None, str] | None:
        root = self.cache_dir / name
        if not root.is_dir():
            return None
        versions = sorted(
            (p for p in root.iterdir() if (p / META).exists()), key=_version_key, reverse=True
        )
        if not versions:
            return None
        meta = json.loads((versions[0] / META).read_text())
        return versions[0].name, meta.get("run_id"), "cache"

    def _load_version(
        self, name: str, version: str, run_id: str | None, source: str
    ) -> ServedModel:
        directory = self.cache_dir / name / version
        meta = json.loads((directory / META).read_text())
        # MLflow prepends the model's copy of our code (code_paths) to sys.path for good.
        # The served models share live objects (one InventoryPositions), so the process
        # must run one copy of the code: the installed project, imported before loading.
        saved = list(sys.path)
        try:
            pyfunc = tracking.load_pyfunc(str(directory / "model"))
        finally:
            sys.path[:] = saved
        return ServedModel(
            name=name,
            version=version,
            run_id=run_id,
            source=source,
            path=directory,
            pyfunc=pyfunc,
            evaluation=meta.get("evaluation", {}),
            loaded_at=datetime.now(UTC),
        )
