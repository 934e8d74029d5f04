import pytest
from pydantic import ValidationError

from stockpilot.settings import Settings


def test_runtime_state_defaults_live_under_home(tmp_path, monkeypatch):
    monkeypatch.setenv("STOCKPILOT_HOME", str(tmp_path / "state"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    s = Settings()
    assert s.data_dir == tmp_path / "state" / "data"
    assert s.database_url == f"sqlite:///{tmp_path / 'state' / 'stockpilot.db'}"
    assert s.tracking_uri == f"sqlite:///{tmp_path / 'state' / 'mlflow.db'}"


def test_mlflow_tracking_uri_env_is_honoured(monkeypatch):
    monkeypatch.delenv("STOCKPILOT_MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://tracking.example:5000")
    assert Settings().tracking_uri == "http://tracking.example:5000"


def test_unknown_setting_is_refused():
    with pytest.raises(ValidationError, match="lgbm_thread"):
        Settings(lgbm_thread=2)
