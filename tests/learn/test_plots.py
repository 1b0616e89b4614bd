import subprocess
import sys

import numpy as np
import pytest

from ielmscan.learn.metrics import binary_metrics, pr_curve, roc_curve
from ielmscan.learn.plots import plot_pr, plot_roc, thin_curve

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def scores() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    y = np.arange(200) % 2
    good = np.clip(0.5 + 0.3 * (y - 0.5) + rng.normal(0, 0.2, 200), 0, 1)
    weak = np.clip(0.5 + 0.1 * (y - 0.5) + rng.normal(0, 0.2, 200), 0, 1)
    return {"model": (y, good), "GC baseline": (y, weak)}


def open_figures() -> list[int]:
    import matplotlib.pyplot as plt

    return plt.get_fignums()


def test_roc_plot_is_a_png_and_leaves_no_figure_open(tmp_path, scores):
    curves = {}
    for name, (y, p) in scores.items():
        fpr, tpr, _ = roc_curve(y, p)
        curves[name] = (fpr, tpr, binary_metrics(y, p)["auroc"])
    path = tmp_path / "roc.png"
    plot_roc(curves, path)
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC)
    assert len(data) > 20_000  # lines, legend and labels, not an empty canvas
    assert open_figures() == []


def test_pr_plot_is_a_png_and_leaves_no_figure_open(tmp_path, scores):
    curves = {}
    for name, (y, p) in scores.items():
        precision, recall, _ = pr_curve(y, p)
        curves[name] = (precision, recall, binary_metrics(y, p)["auprc"])
    path = tmp_path / "pr.png"
    plot_pr(curves, str(path), prevalence=0.5)
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC)
    assert len(data) > 20_000
    assert open_figures() == []


def test_plot_errors_name_the_problem(tmp_path):
    curve = {"m": (np.array([0.0, 1.0]), np.array([0.0, 1.0]), 0.5)}
    with pytest.raises(ValueError, match="at least one"):
        plot_roc({}, tmp_path / "x.png")
    with pytest.raises(ValueError, match="prevalence"):
        plot_pr(curve, tmp_path / "x.png", prevalence=1.5)
    with pytest.raises(ValueError, match="'m' has 2 x values but 1 y values"):
        plot_roc({"m": (np.array([0.0, 1.0]), np.array([0.0]), 0.5)}, tmp_path / "x.png")
    with pytest.raises(OSError, match="cannot write plot"):
        plot_roc(curve, tmp_path / "missing" / "roc.png")
    assert open_figures() == []


def test_importing_the_module_does_not_import_matplotlib():
    code = "import sys, ielmscan.learn.plots; sys.exit('matplotlib' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_thin_curve_keeps_ends_and_shape_of_long_curves():
    x = np.linspace(0, 1, 100_001)
    y = np.sqrt(x)
    tx, ty = thin_curve(x, y, max_points=500)
    assert len(tx) <= 502 and (tx[0], ty[0], tx[-1], ty[-1]) == (0.0, 0.0, 1.0, 1.0)
    assert np.all(np.diff(tx) > 0)
    np.testing.assert_allclose(ty, np.sqrt(tx))  # points of the curve, not new ones
    assert np.max(np.diff(tx) + np.diff(ty)) < 3 * 2 / 500  # spread along the whole length
    short = (np.array([0.0, 0.5, 1.0]), np.array([0.0, 0.7, 1.0]))
    assert all(np.array_equal(a, b) for a, b in zip(thin_curve(*short), short))


def test_a_curve_of_a_million_points_plots(tmp_path):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 1_000_000)
    p = np.clip(0.5 + 0.1 * (y - 0.5) + rng.normal(0, 0.2, y.size), 0, 1)
    fpr, tpr, _ = roc_curve(y, p)
    assert len(fpr) > 500_000
    plot_roc({"model": (fpr, tpr, 0.6)}, tmp_path / "roc.png")
    assert (tmp_path / "roc.png").read_bytes().startswith(PNG_MAGIC)


def test_logo_is_a_png_as_wide_as_its_motif_and_rejects_other_shapes(tmp_path):
    from ielmscan.errors import InputError
    from ielmscan.learn.plots import plot_logo

    narrow, wide = tmp_path / "narrow.png", tmp_path / "wide.png"
    plot_logo(np.eye(4)[[0, 1, 2]], narrow, "three columns")
    plot_logo(np.full((20, 4), 0.25), wide)  # no information: an empty logo, still drawn
    assert narrow.read_bytes()[:8] == PNG_MAGIC and wide.read_bytes()[:8] == PNG_MAGIC

    def png_width(path):
        return int.from_bytes(path.read_bytes()[16:20], "big")

    assert png_width(wide) > png_width(narrow)
    with pytest.raises(InputError, match=r"\(width, 4\)"):
        plot_logo(np.ones((5, 3)), tmp_path / "bad.png")
