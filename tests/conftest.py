import numpy as np
import pandas as pd
import pytest


@pytest.fixture
def census():
    """A small census-like table: three related targets of mixed kinds."""
    return make_census()


@pytest.fixture(scope="module")
def census_module():
    """:func:`census` built once per test module, for tests that only read it."""
    return make_census()


def make_census():
    """A small census-like table: three related targets of mixed kinds.

    ``income`` (3 string classes), ``married`` (bool, 20 % missing) and
    ``age`` (float, 10 % missing) all depend on the same latent factors.
    """
    rng = np.random.RandomState(0)
    n = 240
    X = rng.normal(size=(n, 6))
    latent = X[:, 0] + 0.5 * X[:, 1]
    income = np.select([latent < -0.5, latent < 0.5], ["low", "mid"], "high")
    married = pd.array(latent + X[:, 2] > 0, dtype="boolean")
    married[rng.rand(n) < 0.2] = pd.NA
    age = 40 + 10 * latent + 5 * X[:, 3]
    age[rng.rand(n) < 0.1] = np.nan
    X = pd.DataFrame(X, columns=[f"x{j}" for j in range(6)])
    Y = pd.DataFrame({"income": income, "married": married, "age": age})
    return X, Y
