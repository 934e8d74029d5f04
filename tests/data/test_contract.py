"""The data contract: every rejection names table, column and rule; nothing half-loaded."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from features.contract import REQUIRED_TABLES, validate_tables
from stockpilot.cli import app
from stockpilot.data import load_dataset, write_tables
from stockpilot.errors import ContractViolation

runner = CliRunner()


def minimal_tables() -> dict[str, pd.DataFrame]:
    """The smallest valid dataset: only the required tables, only required columns."""
    return {
        "items": pd.DataFrame(
            {
                "item_id": ["A", "B"],
                "category": ["c", "c"],
                "unit_cost": [1.0, 2.0],
                "list_price": [2.0, 3.0],
            }
        ),
        "locations": pd.DataFrame({"location_id": ["DAL"]}),
        "customers": pd.DataFrame({"customer_id": ["K1"]}),
        "orders": pd.DataFrame(
            {
                "order_id": ["O1", "O1", "O2"],
                "line_no": [1, 2, 1],
                "order_ts": ["2024-01-02 10:00", "2024-01-02 10:00", "2024-01-03T09:30:00"],
                "customer_id": ["K1", "K1", "K1"],
                "item_id": ["A", "B", "A"],
                "location_id": ["DAL", "DAL", "DAL"],
                "qty": [5, 1, 2],
                "unit_price": [2.0, 3.0, 1.9],
                "promised_date": ["2024-01-05", "2024-01-05", "2024-01-06"],
            }
        ),
        "fulfillments": pd.DataFrame({"order_id": ["O1"], "line_no": [1], "shipped_qty": [5]}),
        "inventory": pd.DataFrame(
            {
                "snapshot_date": ["2024-01-02"],
                "item_id": ["A"],
                "location_id": ["DAL"],
                "on_hand": [10],
            }
        ),
    }


def write_csv(tables: dict[str, pd.DataFrame], directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, df in tables.items():
        df.to_csv(directory / f"{name}.csv", index=False)
    return directory


def validate_cli(directory: Path, *args: str):
    return runner.invoke(app, ["data", "validate", str(directory), *args])


def test_minimal_dataset_of_required_tables_validates(tmp_path):
    d = write_csv(minimal_tables(), tmp_path / "d")
    result = validate_cli(d)
    assert result.exit_code == 0, result.output
    ds = load_dataset(d)
    assert ds.demand is None and ds.substitutions is None
    assert ds.orders["order_ts"].dtype.kind == "M"
    assert ds.orders["qty"].tolist() == [5.0, 1.0, 2.0]


def test_extra_and_x_columns_are_kept_and_typed(tmp_path):
    tables = minimal_tables()
    tables["orders"]["erp_note"] = ["a", "b", "c"]
    tables["orders"]["x_vendor"] = ["V1", "V2", "V1"]
    tables["orders"]["x_promo"] = ["1", "0", "1"]
    ds = load_dataset(write_csv(tables, tmp_path / "d"))
    assert ds.orders["erp_note"].tolist() == ["a", "b", "c"]
    assert ds.orders["x_vendor"].tolist() == ["V1", "V2", "V1"]
    assert ds.orders["x_promo"].tolist() == [1.0, 0.0, 1.0]


@pytest.mark.parametrize(
    ("table", "mutate", "expected"),
    [
        ("orders", lambda df: df.drop(columns=["qty"]), ["orders.qty", "required column missing"]),
        (
            "orders",
            lambda df: df.assign(qty=["5", "lots", "2"]),
            ["orders.qty", "expected a number", "row 2", "'lots'"],
        ),
        ("orders", lambda df: df.assign(qty=[5, -3, 2]), ["orders.qty", "must be > 0", "row 2"]),
        (
            "orders",
            lambda df: df.assign(promised_date=["2024-01-05", "2024-13-45", "soon"]),
            ["orders.promised_date", "expected a date", "2 row(s)", "row 2", "row 3"],
        ),
        (
            "items",
            lambda df: df.assign(item_id=["A", "A"]),
            ["items.item_id", "duplicate key (item_id)", "row 2"],
        ),
        (
            "orders",
            lambda df: df.assign(line_no=[1, 1, 1]),
            ["orders.order_id,line_no", "duplicate key (order_id, line_no)", "'O1/1'"],
        ),
        (
            "inventory",
            lambda df: df.assign(on_hand=[-1]),
            ["inventory.on_hand", "must be >= 0"],
        ),
        (
            "orders",
            lambda df: df.assign(customer_id=["K1", None, "K1"]),
            ["orders.customer_id", "must not be empty", "row 2"],
        ),
    ],
    ids=[
        "missing-column",
        "wrong-type",
        "negative-qty",
        "unparseable-date",
        "duplicate-key",
        "duplicate-compound-key",
        "negative-stock",
        "empty-required",
    ],
)
def test_each_rejection_names_table_column_rule_and_rows(tmp_path, table, mutate, expected):
    tables = minimal_tables()
    tables[table] = mutate(tables[table])
    d = write_csv(tables, tmp_path / "d")
    result = validate_cli(d)
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    for fragment in expected:
        assert fragment in text, f"{fragment!r} not in {text!r}"
    with pytest.raises(ContractViolation) as err:
        load_dataset(d)
    assert any(v.table == table for v in err.value.details["report"])


def test_unknown_table_file_and_missing_required_table(tmp_path):
    tables = minimal_tables()
    del tables["inventory"]
    d = write_csv(tables, tmp_path / "d")
    (d / "invoices.csv").write_text("a,b\n1,2\n")
    (d / "notes.txt").write_text("hello")
    result = validate_cli(d, "--json")
    assert result.exit_code == 1
    report = json.loads(result.output)
    rules = {(v["table"], v["rule"].split(" (")[0]) for v in report["violations"]}
    assert ("inventory", "required table missing") in rules
    assert ("invoices", "unknown table file 'invoices.csv'") in rules
    assert ("notes", "unknown table file 'notes.txt'") in rules


def test_table_given_twice_is_rejected(tmp_path):
    d = write_csv(minimal_tables(), tmp_path / "d")
    pd.read_csv(d / "customers.csv").to_parquet(d / "customers.parquet")
    result = validate_cli(d)
    assert result.exit_code == 1
    assert "customers: table given twice" in " ".join(result.output.split())


def test_every_violation_reported_and_nothing_half_loaded(tmp_path):
    tables = minimal_tables()
    tables["orders"] = tables["orders"].assign(qty=[5, -1, 2])
    tables["items"] = tables["items"].drop(columns=["category"])
    _, violations = validate_tables(tables)
    assert {(v.table, v.column) for v in violations} == {("orders", "qty"), ("items", "category")}
    typed, _ = validate_tables(tables)
    assert typed == {}  # all or nothing


def test_optional_tables_and_columns_may_be_absent():
    tables = minimal_tables()
    typed, violations = validate_tables(tables)
    assert violations == []
    assert set(typed) == set(REQUIRED_TABLES)


def test_discount_out_of_range_is_rejected():
    tables = minimal_tables()
    tables["orders"]["discount_pct"] = [0, 101, 5]
    _, violations = validate_tables(tables)
    assert [str(v).split(" —")[0] for v in violations] == ["orders.discount_pct: must be <= 100"]


def test_master_data_findings_fail_only_with_strict(tmp_path):
    tables = minimal_tables()
    tables["orders"].loc[2, "item_id"] = "GHOST"
    tables["items"]["active"] = ["true", "false"]
    d = write_csv(tables, tmp_path / "d")
    lenient = validate_cli(d, "--json")
    assert lenient.exit_code == 0
    findings = {
        (f["table"], f["column"], f["rule"]) for f in json.loads(lenient.output)["findings"]
    }
    assert ("orders", "item_id", "unknown items.item_id") in findings
    assert ("orders", "item_id", "inactive item ordered") in findings
    strict = validate_cli(d, "--strict")
    assert strict.exit_code == 1


def test_csv_parquet_round_trip_preserves_typed_tables(tmp_path, small_data_dir):
    parquet = load_dataset(small_data_dir)
    write_tables(parquet.tables(), tmp_path / "csv", fmt="csv")
    shutil.copytree(small_data_dir / "truth", tmp_path / "csv" / "truth")
    csv = load_dataset(tmp_path / "csv")
    for name, frame in parquet.tables().items():
        other = getattr(csv, name)
        pd.testing.assert_frame_equal(
            frame.reset_index(drop=True),
            other.reset_index(drop=True),
            check_dtype=False,
            check_categorical=False,
            obj=name,
        )
