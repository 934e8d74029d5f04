"""Every MLflow read and write goes through this module (the pyfunc wrappers aside).

Conventions (SPEC §6): tracking URI from settings (default ``sqlite:///var/mlflow.db``,
artifacts under ``var/mlartifacts``), one experiment per model, registered models
``order-risk``, ``substitution``, ``demand`` with aliases ``champion``/``challenger``.
Every logged model carries a signature, an input example, pinned requirements, our
own code (``code_paths``) and tags for dataset fingerprint, feature-set version and
code version.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from stockpilot.errors import NotFound
from stockpilot.settings import Settings, get_settings

MODEL_NAMES = ("order-risk", "substitution", "demand")
ALIASES = ("champion", "challenger")
PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Third-party packages a served model needs; versions are pinned from this environment.
BASE_REQUIREMENTS = ("numpy", "pandas", "scikit-learn", "lightgbm", "pyarrow", "mlflow")


@dataclass(frozen=True)
class RegisteredVersion:
    name: str
    version: str
    run_id: str | None
    source: str
    tags: dict[str, str]


def configure(settings: Settings | None = None) -> str:
    """Point MLflow at the configured store; returns the tracking URI."""
    settings = settings or get_settings()
    uri = settings.tracking_uri
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    # MLflow also writes the URI into MLFLOW_TRACKING_URI (for subprocesses); put the
    # environment back, or it would outrank the next settings' own store in this process.
    with _environment():
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
    return uri


def client(settings: Settings | None = None) -> MlflowClient:
    uri = configure(settings)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def ensure_experiment(name: str, settings: Settings | None = None) -> str:
    """The experiment id of ``name``, created with artifacts under ``var/`` for local stores."""
    settings = settings or get_settings()
    configure(settings)
    existing = mlflow.get_experiment_by_name(name)
    if existing is not None:
        return existing.experiment_id
    location = None
    if settings.tracking_uri.startswith(("sqlite:", "file:")) or "://" not in settings.tracking_uri:
        root = settings.artifact_root.resolve()
        root.mkdir(parents=True, exist_ok=True)
        location = (root / name).as_uri()
    return mlflow.create_experiment(name, artifact_location=location)


@contextmanager
def run(model_name: str, settings: Settings | None = None, **tags: str) -> Iterator[Any]:
    """An MLflow run in the model's experiment."""
    experiment_id = ensure_experiment(model_name, settings)
    with mlflow.start_run(experiment_id=experiment_id, tags=tags or None) as active:
        yield active


def log_params(params: Mapping[str, Any]) -> None:
    mlflow.log_params({k: v for k, v in params.items()})


def log_metrics(metrics: Mapping[str, float], prefix: str = "") -> None:
    """Log a (possibly nested) mapping of numbers, flattening keys with dots."""
    flat: dict[str, float] = {}

    def walk(node: Mapping[str, Any], path: str) -> None:
        for key, value in node.items():
            name = f"{path}{key}".replace("@", "_at_")
            if isinstance(value, Mapping):
                walk(value, name + ".")
            elif isinstance(value, int | float) and not isinstance(value, bool) and value == value:
                flat[name] = float(value)  # NaN (value != value) is skipped

    walk(metrics, prefix)
    if flat:
        mlflow.log_metrics(flat)


def log_json(obj: Any, artifact_file: str) -> None:
    mlflow.log_dict(obj, artifact_file)


def log_figure(figure: Any, artifact_file: str) -> None:
    mlflow.log_figure(figure, artifact_file)


def log_artifact(path: Path, artifact_path: str | None = None) -> None:
    mlflow.log_artifact(str(path), artifact_path)


def pinned_requirements(extra: tuple[str, ...] = ()) -> list[str]:
    reqs = []
    for package in (*BASE_REQUIREMENTS, *extra):
        try:
            reqs.append(f"{package}=={metadata.version(package)}")
        except metadata.PackageNotFoundError:
            reqs.append(package)
    return reqs


def code_version() -> str:
    """The git commit of the code that trained the model (or the package version)."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return metadata.version("stockpilot")


def dataset_fingerprint(tables: Mapping[str, pd.DataFrame]) -> str:
    """A content hash of the training tables (order-independent of dict order)."""
    digest = hashlib.sha256()
    for name in sorted(tables):
        df = tables[name]
        digest.update(name.encode())
        digest.update(json.dumps(list(map(str, df.columns))).encode())
        digest.update(pd.util.hash_pandas_object(df, index=False).values.tobytes())
    return digest.hexdigest()[:16]


def log_model(
    python_model: Any,
    *,
    model_name: str,
    artifacts: Mapping[str, str] | None,
    input_example: pd.DataFrame,
    signature: Any,
    tags: Mapping[str, str],
    extra_requirements: tuple[str, ...] = (),
) -> Any:
    """Log a pyfunc model with our conventions; returns MLflow's ModelInfo."""
    import mlflow.pyfunc

    code_paths = [str(PROJECT_ROOT / pkg) for pkg in ("models", "features", "stockpilot")]
    info = mlflow.pyfunc.log_model(
        name=model_name,
        python_model=python_model,
        artifacts=dict(artifacts or {}),
        code_paths=code_paths,
        signature=signature,
        input_example=input_example,
        pip_requirements=pinned_requirements(extra_requirements),
        tags=dict(tags),
    )
    return info


def log_lightgbm_peer(
    booster: Any, *, input_example: pd.DataFrame, experiment: str, settings: Settings | None = None
) -> str:
    """Log a bare LightGBM booster with MLflow's own LightGBM flavour; returns its model URI.

    For ``benchmarks/serving.py``: the same booster our model serves, as the fastest thing a
    user could deploy with ``mlflow models serve`` (``predict`` is the booster's
    probability, no data contract, no explanation). Logged in its own experiment, never
    registered, so it cannot become anyone's champion.
    """
    import mlflow.lightgbm

    experiment_id = ensure_experiment(experiment, settings)  # in that store, not the default
    with mlflow.start_run(experiment_id=experiment_id, tags={"purpose": "serving peer"}):
        info = mlflow.lightgbm.log_model(
            booster,
            name="booster",
            input_example=input_example,
            pip_requirements=pinned_requirements(),
        )
    return info.model_uri


def register(model_uri: str, model_name: str, alias: str | None, tags: Mapping[str, str]) -> str:
    """Register a logged model under ``model_name``; point ``alias`` at it. Returns the version."""
    if model_name not in MODEL_NAMES:
        raise ValueError(f"model_name must be one of {MODEL_NAMES}, got {model_name!r}")
    if alias is not None and alias not in ALIASES:
        raise ValueError(f"alias must be one of {ALIASES} or None, got {alias!r}")
    mv = mlflow.register_model(model_uri, model_name, tags=dict(tags))
    if alias is not None:
        set_alias(model_name, alias, mv.version)
    return str(mv.version)


def register_run_model(
    model_uri: str, model_name: str, alias: str | None, tags: Mapping[str, str]
) -> dict[str, str | None]:
    """:func:`register` from inside the training run; the ``registered`` block of a report."""
    run = mlflow.active_run()
    return {
        "name": model_name,
        "version": register(model_uri, model_name, alias, tags),
        "alias": alias,
        "run_id": run.info.run_id if run is not None else None,
    }


def set_alias(model_name: str, alias: str, version: str | int) -> None:
    client().set_registered_model_alias(model_name, alias, str(version))


def set_version_tag(model_name: str, version: str | int, key: str, value: str) -> None:
    client().set_model_version_tag(model_name, str(version), key, value)


@contextmanager
def _environment(**values: str) -> Iterator[None]:
    """MLflow reads these settings from the environment at call time; set them for a block."""
    import os

    saved = {k: os.environ.get(k) for k in (*values, "MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def fail_fast(timeout_seconds: int = 5) -> Any:
    """Registry calls that give up quickly (no retry storm) — for start-up and health paths."""
    return _environment(
        MLFLOW_HTTP_REQUEST_MAX_RETRIES="0", MLFLOW_HTTP_REQUEST_TIMEOUT=str(timeout_seconds)
    )


def resolve(model_name: str, alias: str = "champion") -> RegisteredVersion:
    """The registry version behind an alias; raises MlflowException when unreachable/absent."""
    mv = client().get_model_version_by_alias(model_name, alias)
    return RegisteredVersion(
        name=model_name,
        version=str(mv.version),
        run_id=mv.run_id,
        source=mv.source,
        tags=dict(mv.tags or {}),
    )


def has_alias(model_name: str, alias: str = "champion") -> bool:
    try:
        resolve(model_name, alias)
        return True
    except MlflowException:
        return False


def download(model_name: str, version: str, dest: Path) -> Path:
    """Copy a registered version's artifacts to ``dest`` (the local model cache)."""
    import mlflow.artifacts

    dest.mkdir(parents=True, exist_ok=True)
    with _environment(MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false"):
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{model_name}/{version}", dst_path=str(dest)
        )
    return Path(local)


def load_pyfunc(uri: str, settings: Settings | None = None) -> Any:
    """Load a pyfunc model; ``models:/`` and ``runs:/`` URIs resolve in the configured store."""
    import mlflow.pyfunc

    if not uri.startswith(("models:/", "runs:/")):
        return mlflow.pyfunc.load_model(uri)
    tracking_uri = configure(settings)
    try:
        return mlflow.pyfunc.load_model(uri)
    except MlflowException as err:
        if err.error_code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise
        name = uri.removeprefix("models:/").split("@")[0].split("/")[0]
        hint = f" (train one with `stockpilot train {name}`)" if name in MODEL_NAMES else ""
        raise NotFound(f"no model {uri} in {tracking_uri}: {err.message}{hint}") from err


def run_artifact(run_id: str, artifact_path: str) -> Any:
    """Load a JSON artifact of a run (e.g. ``evaluation.json``)."""
    return mlflow.artifacts.load_dict(f"runs:/{run_id}/{artifact_path}")


def delete_alias(model_name: str, alias: str) -> None:
    """Remove ``alias`` from ``model_name`` (a promoted challenger stops being one)."""
    client().delete_registered_model_alias(model_name, alias)


def alias_version(model_name: str, alias: str) -> str | None:
    """The version behind ``alias``, or None when the model or the alias does not exist."""
    try:
        return str(client().get_model_version_by_alias(model_name, alias).version)
    except MlflowException:
        return None


def version_info(model_name: str, version: str | int) -> RegisteredVersion:
    """One registered version; :class:`NotFound` naming it when the registry has no such."""
    try:
        mv = client().get_model_version(model_name, str(version))
    except MlflowException as err:
        raise NotFound(f"{model_name} has no registered version {version}: {err.message}") from err
    return RegisteredVersion(model_name, str(mv.version), mv.run_id, mv.source, dict(mv.tags or {}))


def log_json_to_run(run_id: str, obj: Any, artifact_file: str) -> None:
    """Add a JSON artifact to a finished run (the gate report to the challenger's run)."""
    client().log_dict(run_id, obj, artifact_file)
