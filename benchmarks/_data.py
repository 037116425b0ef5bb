"""Loaders of the real multi-task data sets used by ``bench_quality.py``.

The files are not part of the repository: they are looked for in the folder
named by the environment variable ``SKLEARN_MTL_DATA``, else in
``../shared/data`` from the repository's root. Each loader returns a
:class:`Data`: the inputs ``X``, one column of ``Y`` per task (NaN marks a
missing label; binary labels are 0.0/1.0), the kind of each task, and what
the data set's protocol needs to split it (patients, schools, the official
test rows). A loader raises :class:`DataNotFound` when its files are absent.

Derived data are cached outside the repository, in ``SKLEARN_MTL_CACHE``
(default ``~/.cache/sklearn_mtl``): only the Tox21 fingerprints and
descriptors, which take RDKit a while to compute.
"""

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.io import arff, loadmat

REPO_ROOT = Path(__file__).resolve().parent.parent

BINARY, MULTICLASS, REGRESSION = "binary", "multiclass", "regression"


class DataNotFound(Exception):
    """A data set's files (or the package providing it) are not available."""


@dataclass
class Data:
    """One data set, ready for a protocol.

    Attributes
    ----------
    X : DataFrame
        Inputs, one row per sample.
    Y : DataFrame
        One column per task, NaN for a missing label.
    kinds : dict of str to str
        Task name to ``"binary"``, ``"multiclass"`` or ``"regression"``.
    groups : ndarray or None
        A group label per row (patient, school) where the protocol needs it.
    test_mask : ndarray of bool or None
        The rows of the official test set, for data sets that come split.
    """

    X: pd.DataFrame
    Y: pd.DataFrame
    kinds: dict
    groups: np.ndarray | None = None
    test_mask: np.ndarray | None = None


def data_root():
    """The folder holding the shared data sets."""
    return Path(
        os.environ.get("SKLEARN_MTL_DATA", REPO_ROOT.parent / "shared" / "data")
    )


def cache_root():
    """The folder for derived data (outside the repository)."""
    default = Path.home() / ".cache" / "sklearn_mtl"
    return Path(os.environ.get("SKLEARN_MTL_CACHE", default))


def _require(*relative_paths):
    paths = [data_root() / p for p in relative_paths]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise DataNotFound(", ".join(missing))
    return paths


# -- Tox21 ---------------------------------------------------------------------

TOX21_RADIUS, TOX21_BITS = 2, 1024


def load_tox21():
    """Tox21 (MoleculeNet version): ECFP4 bits of 7,831 molecules, 12 assays."""
    (path,) = _require("chemprop/tox21.csv")
    table = pd.read_csv(path)
    bits, parsed = _cached_fingerprints(path, table["smiles"])
    X = pd.DataFrame(bits[parsed], columns=[f"ecfp_{j}" for j in range(TOX21_BITS)])
    Y = table.drop(columns="smiles")[parsed].reset_index(drop=True).astype(float)
    return Data(X, Y, dict.fromkeys(Y.columns, BINARY))


def _cached_fingerprints(path, smiles):
    """Morgan bits (n, TOX21_BITS) as uint8 and a parsed-SMILES mask, cached."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    cache = cache_root() / f"tox21_ecfp{2 * TOX21_RADIUS}_{TOX21_BITS}_{digest}.npz"
    if cache.is_file():
        with np.load(cache) as stored:
            return np.unpackbits(stored["packed"], axis=1)[:, :TOX21_BITS], stored[
                "parsed"
            ]
    bits, parsed = _morgan_fingerprints(smiles)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(cache, packed=np.packbits(bits, axis=1), parsed=parsed)
    return bits, parsed


def _morgan_fingerprints(smiles, n_bits=TOX21_BITS, counts=False):
    """Morgan fingerprints (radius ``TOX21_RADIUS``) and a parsed-SMILES mask.

    Bits as uint8, or with ``counts=True`` how often each (folded) feature
    occurs, as uint32.
    """
    try:
        from rdkit import Chem, RDLogger
        from rdkit.Chem import rdFingerprintGenerator
    except ImportError:
        raise DataNotFound("the rdkit package (pip install rdkit)") from None
    RDLogger.DisableLog("rdApp.*")  # unparsable SMILES are counted, not logged
    generator = rdFingerprintGenerator.GetMorganGenerator(
        radius=TOX21_RADIUS, fpSize=n_bits
    )
    fingerprint = (
        generator.GetCountFingerprintAsNumPy
        if counts
        else generator.GetFingerprintAsNumPy
    )
    features = np.zeros((len(smiles), n_bits), dtype=np.uint32 if counts else np.uint8)
    parsed = np.zeros(len(smiles), dtype=bool)
    for i, text in enumerate(smiles):
        molecule = Chem.MolFromSmiles(text)
        if molecule is not None:
            features[i] = fingerprint(molecule)
            parsed[i] = True
    return features, parsed


def tox21_fingerprint_variant(n_bits, counts):
    """Other Morgan fingerprints of :func:`load_tox21`'s molecules, row for row.

    For ``studies/tox21_variants.py``, which compares them with the protocol's
    1,024 bits; not cached.
    """
    (path,) = _require("chemprop/tox21.csv")
    features, parsed = _morgan_fingerprints(pd.read_csv(path)["smiles"], n_bits, counts)
    return features[parsed]


# -- UCI Adult -----------------------------------------------------------------


def tox21_descriptors():
    """RDKit's molecular descriptors of :func:`load_tox21`'s molecules, row for row.

    Auxiliary targets for ``bench_quality.py``'s model (7), never inputs: one
    column per descriptor of ``rdkit.Chem.Descriptors.descList`` (molecular
    weight, logP, TPSA, ring and atom counts, ...), NaN where RDKit fails or
    returns an infinite value. Cached per RDKit version, since the list of
    descriptors changes between versions.
    """
    (path,) = _require("chemprop/tox21.csv")
    try:
        import rdkit
        from rdkit import Chem, RDLogger
        from rdkit.Chem import Descriptors
    except ImportError:
        raise DataNotFound("the rdkit package (pip install rdkit)") from None
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    cache = cache_root() / f"tox21_descriptors_rdkit{rdkit.__version__}_{digest}.pkl"
    if cache.is_file():
        return pd.read_pickle(cache)
    RDLogger.DisableLog("rdApp.*")
    rows = []
    for text in pd.read_csv(path)["smiles"]:
        molecule = Chem.MolFromSmiles(text)
        if molecule is not None:  # the rows load_tox21 keeps
            rows.append([_descriptor(f, molecule) for _, f in Descriptors.descList])
    names = [name for name, _ in Descriptors.descList]
    table = pd.DataFrame(rows, columns=names, dtype=float)
    table = table.where(np.isfinite(table))
    cache.parent.mkdir(parents=True, exist_ok=True)
    table.to_pickle(cache)
    return table


def _descriptor(function, molecule):
    try:
        return float(function(molecule))
    except (ValueError, ZeroDivisionError, RuntimeError, OverflowError):
        return np.nan


ADULT_COLUMNS = [
    "age",
    "workclass",
    "fnlwgt",
    "education",
    "education-num",
    "marital-status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "capital-gain",
    "capital-loss",
    "hours-per-week",
    "native-country",
    "income",
]
ADULT_LEAKS = ["marital-status", "relationship"]  # they give never-married away


def load_adult():
    """UCI Adult, official split: income > 50K and never-married."""
    train_path, test_path = _require("uci/adult.data", "uci/adult.test")
    parts = [_read_adult(train_path), _read_adult(test_path)]
    table = pd.concat(parts, ignore_index=True)
    test_mask = np.repeat([False, True], [len(part) for part in parts])
    Y = pd.DataFrame(
        {
            "income>50K": (table["income"] == ">50K").astype(float),
            "never-married": (table["marital-status"] == "Never-married").astype(float),
        }
    )
    X = table.drop(columns=["income", *ADULT_LEAKS])
    return Data(X, Y, dict.fromkeys(Y.columns, BINARY), test_mask=test_mask)


def _read_adult(path):
    # No header; ", " separators; "?" for unknown; the original adult.test
    # has a "|1x3 Cross validator" first line and labels ending in ".".
    table = pd.read_csv(
        path, header=None, names=ADULT_COLUMNS, skipinitialspace=True, comment="|"
    )
    table = table.dropna(subset=["income"])
    table["income"] = table["income"].str.rstrip(".")
    return table


# -- Parkinson's telemonitoring ------------------------------------------------

PARKINSONS_TARGETS = ["motor_UPDRS", "total_UPDRS"]


def load_parkinsons():
    """Parkinson's telemonitoring: two UPDRS scores of 42 patients' voice records."""
    (path,) = _require("uci/parkinsons_updrs.data")
    table = pd.read_csv(path)
    X = table.drop(columns=["subject#", *PARKINSONS_TARGETS])
    Y = table[PARKINSONS_TARGETS].astype(float)
    kinds = dict.fromkeys(PARKINSONS_TARGETS, REGRESSION)
    return Data(X, Y, kinds, groups=table["subject#"].to_numpy())


# -- School (MALSAR) -----------------------------------------------------------


def load_school():
    """Inner London exam scores: 139 schools, each school a regression task.

    ``Y`` has one column per school; a row's only label is in its own
    school's column. ``groups`` is the school's index. The constant bias
    column of ``school.mat`` is dropped.
    """
    (path,) = _require("malsar/school.mat")
    mat = loadmat(path)
    inputs, scores = mat["X"][0], mat["Y"][0]
    X = np.vstack(inputs)[:, :-1].astype(float)
    school = np.repeat(np.arange(len(inputs)), [len(x) for x in inputs])
    names = [f"school_{k:03d}" for k in range(len(inputs))]
    Y = np.full((len(X), len(names)), np.nan)
    Y[np.arange(len(X)), school] = np.vstack(scores).ravel()
    X = pd.DataFrame(X, columns=[f"x{j}" for j in range(X.shape[1])])
    Y = pd.DataFrame(Y, columns=names)
    return Data(X, Y, dict.fromkeys(names, REGRESSION), groups=school)


# -- Yeast (MULAN) -------------------------------------------------------------

YEAST_N_LABELS = 14


def load_yeast():
    """Yeast gene functions: 103 features, 14 labels, the standard 1,500/917 split."""
    train_path, test_path = _require(
        "mulan/yeast-train.daricyang.arff", "mulan/yeast-test.daricyang.arff"
    )
    parts = [pd.DataFrame(arff.loadarff(p)[0]) for p in (train_path, test_path)]
    table = pd.concat(parts, ignore_index=True)
    labels = table.columns[-YEAST_N_LABELS:]
    Y = table[labels].apply(lambda column: column.str.decode("ascii").astype(float))
    test_mask = np.repeat([False, True], [len(part) for part in parts])
    X = table.drop(columns=labels)
    return Data(X, Y, dict.fromkeys(labels, BINARY), test_mask=test_mask)


# -- Palmer penguins -----------------------------------------------------------

PENGUIN_INPUTS = ["island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm"]


def load_penguins():
    """Palmer penguins: species, sex (9 missing) and body mass from measurements.

    The two penguins without measurements are dropped (they lack body mass
    too), which leaves 342 rows.
    """
    try:
        from palmerpenguins import load_penguins as load
    except ImportError:
        raise DataNotFound("the palmerpenguins package") from None
    table = load().dropna(subset=PENGUIN_INPUTS).reset_index(drop=True)
    Y = pd.DataFrame(
        {
            "species": table["species"].astype(object),
            "male": table["sex"].map({"male": 1.0, "female": 0.0}),
            "body_mass_g": table["body_mass_g"].astype(float),
        }
    )
    kinds = {"species": MULTICLASS, "male": BINARY, "body_mass_g": REGRESSION}
    return Data(table[PENGUIN_INPUTS], Y, kinds)
