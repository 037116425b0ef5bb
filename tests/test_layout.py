"""The training-tensor layout: codes block, then label-weights block."""

import numpy as np
import pytest
import torch

from sklearn_mtl._layout import pack, unpack


def _example():
    codes = [np.array([2.0, np.nan, 1.0, 0.0]), np.array([0.5, -1.5, np.nan, 3.0])]
    weights = [np.array([1.0, 0.0, 2.0, 0.5]), np.array([1.0, 1.0, 0.0, 0.25])]
    return codes, weights


def test_pack_shape_dtype_and_contiguity():
    codes, weights = _example()
    packed = pack(codes, weights)
    assert packed.shape == (4, 4)
    assert packed.dtype == np.float32
    assert packed.flags.c_contiguous


@pytest.mark.parametrize("n_tasks", [1, 3])
def test_pack_has_two_columns_per_task(n_tasks):
    rng = np.random.default_rng(0)
    codes = [rng.normal(size=5) for _ in range(n_tasks)]
    weights = [rng.uniform(0.1, 2.0, size=5) for _ in range(n_tasks)]
    assert pack(codes, weights).shape == (5, 2 * n_tasks)


def test_pack_unpack_round_trip_numpy():
    codes, weights = _example()
    packed = pack(codes, weights)
    out_codes, out_weights = unpack(packed, n_tasks=2)
    assert out_codes.shape == out_weights.shape == (4, 2)
    np.testing.assert_array_equal(out_weights, np.column_stack(weights))
    labelled = np.column_stack(weights) > 0
    np.testing.assert_allclose(
        out_codes[labelled], np.column_stack(codes)[labelled], rtol=1e-6
    )


def test_pack_unpack_round_trip_torch():
    codes, weights = _example()
    packed = pack(codes, weights)
    tensor = torch.from_numpy(packed)
    t_codes, t_weights = unpack(tensor, n_tasks=2)
    assert isinstance(t_codes, torch.Tensor) and isinstance(t_weights, torch.Tensor)
    assert t_codes.dtype == torch.float32
    n_codes, n_weights = unpack(packed, n_tasks=2)
    np.testing.assert_array_equal(t_codes.numpy(), n_codes)
    np.testing.assert_array_equal(t_weights.numpy(), n_weights)


def test_unpack_of_a_batch_of_rows():
    codes, weights = _example()
    packed = pack(codes, weights)
    batch_codes, batch_weights = unpack(torch.from_numpy(packed)[1:3], n_tasks=2)
    all_codes, all_weights = unpack(packed, n_tasks=2)
    np.testing.assert_array_equal(batch_codes.numpy(), all_codes[1:3])
    np.testing.assert_array_equal(batch_weights.numpy(), all_weights[1:3])


def test_unpack_returns_views():
    packed = pack(*_example())
    codes, weights = unpack(packed, n_tasks=2)
    assert np.shares_memory(codes, packed) and np.shares_memory(weights, packed)


def test_missing_label_gets_code_zero_and_weight_zero():
    codes, weights = _example()
    packed_codes, packed_weights = unpack(pack(codes, weights), n_tasks=2)
    missing = np.column_stack(weights) == 0
    assert missing.any()
    assert np.all(packed_codes[missing] == 0)
    assert np.all(packed_weights[missing] == 0)


def test_zero_weight_code_is_zeroed_even_when_finite():
    packed = pack([np.array([5.0, 7.0])], [np.array([1.0, 0.0])])
    np.testing.assert_array_equal(packed, [[5.0, 1.0], [0.0, 0.0]])


def test_packed_output_holds_no_nan():
    codes = [np.full(3, np.nan), np.array([np.nan, 1.0, np.nan])]
    weights = [np.zeros(3), np.array([0.0, 1.0, 0.0])]
    packed = pack(codes, weights)
    assert not np.isnan(packed).any()


def test_pack_accepts_integer_inputs():
    packed = pack([np.array([0, 1, 1])], [np.array([1, 1, 0])])
    assert packed.dtype == np.float32
    np.testing.assert_array_equal(packed, [[0, 1], [1, 1], [0, 0]])
