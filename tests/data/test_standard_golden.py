"""The ``standard`` regime writes exactly what the simulator wrote before regimes existed.

A golden hash is the right test here, although it would be a poor one for most code:
the claim under test *is* byte identity. Every figure in the docs and the issues
(oracle AUCs, WAPEs, benchmark tables) was measured on ``standard`` datasets, and
adding regimes must not move any of them, not even by a changed random stream. The
hashes below are the sha256 of every file that ``simulate("small", seed=1)`` wrote
with the code of main at e2f2fc4 (the commit before regimes), computed with the
libraries pinned in ``constraints.txt`` (Parquet files embed the writer's version).

The contract tables are compared byte for byte. The ``truth/`` tables hold model
quantities (expected demand, miss probabilities) that pass through ``np.exp`` and friends,
whose last bit depends on the CPU's vector unit (numpy dispatches to AVX-512 where there is
one): they are compared by a digest of their content at 10 significant digits, which the
random stream and the formulas fix and the machine does not.

If a deliberate change of the standard world makes this fail, regenerate the hashes
(``write(simulate("small", seed=1), d)``, then ``sha256sum`` of ``d/*.parquet`` and
``content_digest`` of ``d/truth/*.parquet``) and say in the commit which figures moved.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from training.simulator import simulate, write

# ``sha256sum`` of the contract files written at e2f2fc4; ``content_digest`` of the truth.
SHA256SUM = """
ff9564d9e274c5185e522e9e2bcd55f6e818bcd429f9abc561810a568aae8768  carriers.parquet
decc00ac10efcdf49320842cd67fba742a518e6679ae467dedad422c4541fb96  customers.parquet
1a4ef36fda7766f7af7537a18cea906160bd318c36cd96f5a7c6190336ad5317  demand.parquet
a1607df01175379bf958a80d9d9dcda1c6fbd81af421f707fadcc0bff9c6b11f  fulfillments.parquet
0c69c4c2f5cbf2d9bf622fa9216bd376b63448e0f9c2339f51a90022c0280a06  inventory.parquet
5292a76949c1506dc12e008fba385d28667fddaefeab125c57c1614a5abc0726  items.parquet
5f0022d5ab213c953347f1ab90a95d81ff85d47277e938a6f00f40650ee67ec7  locations.parquet
ebd782b00db74021246fb275d6765dd1de3fc47238c5acb993ca35511fcc346d  orders.parquet
479842941b9469c42e7a09a56e3d6ffa63937975acbc0fecfe289b8d37485222  purchase_orders.parquet
08e8708a3303223b858d7d9ff403519012c09657c1dc7467b75604ffb61f3c21  substitutions.parquet
d4f29ce45d890a3637bc85f5816af9df56052317284a08bae1cff28776bde9a5  truth/demand.parquet
d4ee797e43c922de8f4a119778816319670792e7192cb388c8cb2991cc273533  truth/level_shifts.parquet
bee4182289f83962b303ea1c63decfc9886251780f6165304a66995f4a479c35  truth/order_lines.parquet
bef55674cbaed0958306e3268e69fc2ae4d4c46d46551688935aff334a6877c5  truth/substitutions.parquet
"""
GOLDEN = {
    path: digest for digest, path in (line.split() for line in SHA256SUM.strip().splitlines())
}


def content_digest(path) -> str:
    """sha256 of a table's values, floats at 10 significant digits."""
    frame = pd.read_parquet(path)
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_float_dtype(column):
            frame[name] = [
                np.format_float_positional(v, precision=10, unique=False, fractional=False)
                for v in column
            ]
        else:
            frame[name] = column.astype(str)
    hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()


def _hashes(directory) -> dict[str, str]:
    return {
        path.relative_to(directory).as_posix(): (
            content_digest(path)
            if path.parent.name == "truth"
            else hashlib.sha256(path.read_bytes()).hexdigest()
        )
        for path in sorted(directory.rglob("*.parquet"))
    }


def test_standard_small_seed_1_is_byte_identical_to_the_simulator_before_regimes(tmp_path):
    write(simulate("small", seed=1), tmp_path / "default")
    write(simulate("small", seed=1, regime="standard"), tmp_path / "standard")
    assert _hashes(tmp_path / "default") == GOLDEN
    assert _hashes(tmp_path / "standard") == GOLDEN
