"""The sections of ``bench_speed.py`` that compare the contenders.

- ``compare_contenders``: fit times of (a)-(d) side by side, in rounds, with
  medians and paired ratios;
- ``duel``: (d) against (c) alone, in many more rounds, with a bootstrap
  confidence interval of their paired ratio;
- ``matmul_costs``: the matrix products of one training step of each
  contender's network, in torch and in NumPy.

Each prints its Markdown section and returns what the targets table reads.
"""

import statistics

import numpy as np
import torch
from _speed import (
    BATCH_SIZE,
    CONTENDERS,
    FITTERS,
    N_CLASSES,
    N_FEATURES,
    TRUNK_SIZES,
    make_data,
    markdown_table,
    median_ci,
    paired_ratio,
    round_ratios,
    timed,
    timed_wall_and_cpu,
    warm_up,
)

SMALL_FIT_ROUNDS = 5  # rounds of the fit comparison at n <= 10,000, per repeat


# -- the contenders side by side -------------------------------------------------


def _fit_rounds(X, y, epochs, rounds):
    """Wall and CPU seconds of every contender, ``{key: [per round]}`` each."""
    keys = list(FITTERS)
    walls = {key: [] for key in keys}
    cpus = {key: [] for key in keys}
    for round_ in range(rounds):
        # Each round starts with the next contender, so that none always
        # runs right after the same neighbour.
        for key in keys[round_ % len(keys) :] + keys[: round_ % len(keys)]:
            wall, cpu = timed_wall_and_cpu(FITTERS[key], X, y, epochs)
            walls[key].append(wall)
            cpus[key].append(cpu)
    return walls, cpus


def _print_fit_table(walls, cpus, ratios):
    rows = [
        [
            CONTENDERS[key],
            f"{statistics.median(walls[key]):.2f}",
            f"{min(walls[key]):.2f} – {max(walls[key]):.2f}",
            "1.00×" if key == "a" else f"{ratios[key, 'a']:.2f}×",
            f"{statistics.median(cpus[key]):.2f}",
            "1.00×" if key == "a" else f"{paired_ratio(cpus, key, 'a'):.2f}×",
        ]
        for key in FITTERS
    ]
    header = ["Contender", "Median wall (s)", "Min – max wall (s)"]
    header += ["Wall ratio to (a)", "Median CPU (s)", "CPU ratio to (a)"]
    print(markdown_table(header, rows))
    print(
        f"\n(d) against the others, wall: (b) / (d) = {ratios['b', 'd']:.2f}× "
        f"(plain skorch is that much slower); (d) / (c) = "
        f"{ratios['d', 'c']:.2f}× (CPU: {paired_ratio(cpus, 'd', 'c'):.2f}×).\n"
    )


def compare_contenders(sizes, epochs, repeats):
    """Fit times of (a)-(d), interleaved, with medians and paired ratios.

    Returns, per size, the median of the per-round wall-time ratios of every
    pair of contenders: ``ratios[n][(x, y)]`` is the median of x's time over
    y's.
    """
    print("## Fit time: contenders side by side\n")
    warm_up(FITTERS)
    results = {}
    for n in sizes:
        X, y = make_data(n)
        # Small fits are short (their times: docs/benchmarks_speed.md), and
        # the machine's hiccups weigh most there: more rounds, at little cost.
        rounds = repeats * (SMALL_FIT_ROUNDS if n <= 10_000 else 1)
        walls, cpus = _fit_rounds(X, y, epochs, rounds)
        results[n] = {
            (top, bottom): paired_ratio(walls, top, bottom)
            for top in FITTERS
            for bottom in FITTERS
            if top != bottom
        }
        print(f"### n = {n:,} ({rounds} rounds)\n")
        _print_fit_table(walls, cpus, results[n])
    print(
        "Ratios are paired: the median over rounds of the two contenders' "
        "ratio within a round. (a) and (b) share the benchmark's own module "
        "and masked loss; (d) uses the library's. (c) is a regressor "
        "stand-in: the missing labels are filled with column means and all "
        "three columns are fitted by squared error. Every fit includes its own "
        "data preparation; an untimed warm-up fit of each contender precedes "
        "the timings. CPU = process CPU time: when it is well below wall time, "
        "other processes took the core.\n"
    )
    return results


# -- (d) against (c) alone -------------------------------------------------------


def _duel_row(n, walls):
    """The duel's table row at size ``n``, and (ratio, its 95 % CI)."""
    ratios = round_ratios(walls, "d", "c")
    ratio, ci = statistics.median(ratios), median_ci(ratios)
    q1, _, q3 = statistics.quantiles(ratios, n=4)
    row = [
        f"{n:,}",
        str(len(ratios)),
        f"{statistics.median(walls['c']):.2f}",
        f"{statistics.median(walls['d']):.2f}",
        f"**{ratio:.3f}×**",
        f"{q1:.3f} – {q3:.3f}",
        f"{ci[0]:.3f} – {ci[1]:.3f}",
    ]
    return row, (ratio, ci)


def duel(sizes, epochs, rounds):
    """(d) against (c) alone, in many rounds: their paired ratio and its spread.

    Returns, per size, the median of the per-round ratios (d)/(c) and a 95 %
    bootstrap confidence interval of that median. The interval covers the
    noise between rounds of this run only; the same code measured on another
    day (another load on the machine) can land outside it.
    """
    print("## (d) against (c): many rounds of the two alone\n")
    warm_up({key: FITTERS[key] for key in "cd"})
    rows, results = [], {}
    for n in sizes:
        X, y = make_data(n)
        walls = {"c": [], "d": []}
        for round_ in range(rounds[n]):
            for key in ("d", "c") if round_ % 2 else ("c", "d"):
                walls[key].append(timed(FITTERS[key], X, y, epochs))
        row, results[n] = _duel_row(n, walls)
        rows.append(row)
    header = ["n", "Rounds", "(c) median wall (s)", "(d) median wall (s)"]
    header += ["(d) / (c), median of paired ratios", "Interquartile range"]
    print(markdown_table([*header, "95 % CI of the median (bootstrap)"], rows))
    print(
        "\nEach round fits both, in alternating order. A ratio below 1 means "
        "(d) is faster. The confidence interval covers the noise between the "
        "rounds of this run, not the drift between runs.\n"
    )
    return results


# -- the matrix products of a step -----------------------------------------------


def _step_matmul_shapes(n_outputs):
    """(m, k, n) of every matrix product in one training step of the network.

    ``n_outputs`` lists the output layers' widths: (2, 5, 1) for the three
    heads of (a) and (b); (8,) for (d), which computes its linear heads as
    one layer; (3,) for the single output layer of (c).
    Per layer (n_in -> n_out): forward (B, n_in) @ (n_in, n_out); backward
    (n_out, B) @ (B, n_in) for the weights and, except for the first layer,
    (B, n_out) @ (n_out, n_in) for the layer's input.
    """
    widths = [N_FEATURES, *TRUNK_SIZES]
    layers = list(zip(widths[:-1], widths[1:], strict=True))
    layers += [(TRUNK_SIZES[-1], n_out) for n_out in n_outputs]
    shapes = []
    for i, (n_in, n_out) in enumerate(layers):
        shapes += [(BATCH_SIZE, n_in, n_out), (n_out, BATCH_SIZE, n_in)]
        if i > 0:
            shapes.append((BATCH_SIZE, n_out, n_in))
    return shapes


def _time_products(shapes, library, rng, n_calls=200):
    """Median microseconds of one pass over float32 products of ``shapes``."""
    operands = [
        (
            rng.standard_normal((m, k), dtype=np.float32),
            rng.standard_normal((k, n), dtype=np.float32),
        )
        for m, k, n in shapes
    ]
    if library == "torch":
        operands = [(torch.from_numpy(a), torch.from_numpy(b)) for a, b in operands]
        product = torch.mm
    else:
        product = np.matmul

    def run():
        for a, b in operands:
            product(a, b)

    run()  # warm-up
    samples = [timed(lambda: [run() for _ in range(n_calls)]) for _ in range(7)]
    return statistics.median(samples) / n_calls * 1e6


def matmul_costs(repeats):
    """The matrix products of one training step: torch vs NumPy, same shapes."""
    print("## Matrix products of one training step: torch vs NumPy\n")
    rng = np.random.default_rng(0)
    rows = []
    for label, n_outputs in [
        ("three heads (2, 5, 1): (a), (b)", (*N_CLASSES, 1)),
        ("the heads as one 8-wide layer: (d)", (sum(N_CLASSES) + 1,)),
        ("one 3-wide output layer: (c)", (3,)),
    ]:
        shapes = _step_matmul_shapes(n_outputs)
        torch_us = _time_products(shapes, "torch", rng)
        numpy_us = _time_products(shapes, "numpy", rng)
        rows.append(
            [
                label,
                str(len(shapes)),
                f"{torch_us:.0f}",
                f"{numpy_us:.0f}",
                f"{torch_us / numpy_us:.2f}×",
            ]
        )
    header = ["Network", "Products per step", "torch.mm (µs / step)"]
    print(markdown_table([*header, "NumPy matmul (µs / step)", "torch / NumPy"], rows))
    print(
        f"\nfloat32, batch {BATCH_SIZE}, one thread; medians of 7 runs of 200 "
        "steps' products. The products are most of a step's arithmetic; what "
        "a contender's step costs beyond them is the rest of its training "
        "loop (elementwise operations, loss, optimizer, autograd and Python "
        "bookkeeping).\n"
    )
