"""Plots: words and neighbours in 2-D, PNG/SVG/HTML, Hangul labels with a packaged Korean font."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

pytest.importorskip("matplotlib")

import embedsearch  # noqa: E402
from embedsearch.cli import main  # noqa: E402
from embedsearch.plot import korean_font, pca_2d, save_plot, word_plot  # noqa: E402
from embedsearch.store import write_store  # noqa: E402
from embedsearch.text.pipeline import english_words  # noqa: E402


@pytest.fixture()
def ko_store(tmp_path: Path) -> Path:
    words = ["서울", "부산", "서울역", "사과", "배", "인천"]
    vectors = np.array([[1, 0.1, 0], [1, 0.3, 0], [0.9, 0, 0.1], [0, 1, 0], [0, 1, 0.2], [0.8, 0.2, 0.1]], dtype=np.float32)
    write_store(tmp_path / "ko", words=words, counts=[6, 5, 4, 3, 2, 1], vectors=vectors, model={"kind": "handmade"},
                pipeline=english_words().to_dict())
    return tmp_path / "ko"


def test_words_and_neighbours_are_grouped_by_query(toy_store: Path):
    with embedsearch.open_store(toy_store) as store:
        plot = word_plot(store, ["king", "apple"], k=2)
        assert [(p.word, p.group, p.query) for p in plot.points] == [
            ("king", 0, True), *[(n.word, 0, False) for n in store.similar("king", k=2).neighbors],
            ("apple", 1, True), *[(n.word, 1, False) for n in store.similar("apple", k=2).neighbors]]
        again = word_plot(store, ["king", "apple"], k=2)
    assert [(p.x, p.y) for p in plot.points] == [(p.x, p.y) for p in again.points]  # deterministic
    assert 0 < sum(plot.explained) <= 1 + 1e-9


def test_pca_matches_the_principal_axes():
    rng = np.random.default_rng(0)
    data = rng.standard_normal((2000, 5)) * np.array([5.0, 2.0, 0.1, 0.1, 0.1])
    points, explained = pca_2d(data)
    assert abs(np.corrcoef(points[:, 0], data[:, 0])[0, 1]) > 0.99
    assert abs(np.corrcoef(points[:, 1], data[:, 1])[0, 1]) > 0.99
    assert explained[0] > explained[1] > 0


def test_png_has_the_size_asked_and_is_not_blank(toy_store: Path, tmp_path: Path):
    import matplotlib.image

    with embedsearch.open_store(toy_store) as store:
        out = save_plot(word_plot(store, ["king", "apple", "city"], k=3), tmp_path / "map.png", size=(6, 4), dpi=100)
    pixels = matplotlib.image.imread(out)
    assert pixels.shape[:2] == (400, 600)
    grey = pixels[..., :3].mean(axis=2)
    assert grey.std() > 0.05 and (grey < 0.5).mean() > 0.005  # dark marks (labels, points, axes) on white


def test_hangul_labels_use_a_font_that_has_hangul(ko_store: Path, tmp_path: Path):
    from matplotlib.ft2font import FT2Font

    font = korean_font()
    if font is None:
        pytest.skip("no Korean font: pip install koreanize-matplotlib (the plot extra) or Debian's fonts-nanum")
    face = FT2Font(str(font))
    assert all(face.get_char_index(ord(ch)) != 0 for ch in "서울부산역")
    with embedsearch.open_store(ko_store) as store:
        out = save_plot(word_plot(store, ["서울"], k=3), tmp_path / "ko.svg")
    svg = out.read_text(encoding="utf-8")
    assert "<svg" in svg and "서울" in svg  # the label text (drawn as glyph paths, named in the SVG)


def test_html_is_one_self_contained_page(toy_store: Path, tmp_path: Path):
    result = CliRunner().invoke(main, ["plot", "-s", str(toy_store), "king", "apple", "-k", "2", "-o", str(tmp_path / "m.html")])
    assert result.exit_code == 0, result.output
    page = (tmp_path / "m.html").read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>") and "<svg" in page
    assert "<script" not in page and "src=" not in page and "href=\"http" not in page


def test_cli_errors(toy_store: Path, tmp_path: Path):
    result = CliRunner().invoke(main, ["plot", "-s", str(toy_store), "king", "-o", str(tmp_path / "m.jpg")])
    assert result.exit_code == 2 and ".png, .svg or .html" in result.output
    result = CliRunner().invoke(main, ["plot", "-s", str(toy_store), "kingg", "-o", str(tmp_path / "m.png")])
    assert result.exit_code == 1 and "unknown word 'kingg'" in result.output and not (tmp_path / "m.png").exists()


def test_tsne_places_every_word_the_same_way_for_a_seed(toy_store: Path):
    # scikit-learn is in the plot and test extras: this runs in CI, it does not skip.
    with embedsearch.open_store(toy_store) as store:
        plot = word_plot(store, ["king", "apple"], k=3, method="tsne", seed=7)
        again = word_plot(store, ["king", "apple"], k=3, method="tsne", seed=7)
    assert plot.method == "tsne"
    coords = np.array([(p.x, p.y) for p in plot.points])
    words = [p.word for p in plot.points]
    assert len(set(words)) == len(words) >= 6 and {"king", "apple"} <= set(words)
    assert np.isfinite(coords).all() and len({tuple(c) for c in coords.round(4)}) == len(words)
    assert coords.tolist() == [[p.x, p.y] for p in again.points]
    # The two queries' groups are apart: each word is nearer its own query's centre than the other's.
    groups = np.array([p.group for p in plot.points])
    centres = [coords[groups == g].mean(axis=0) for g in (0, 1)]
    for point, group in zip(coords, groups):
        assert np.linalg.norm(point - centres[group]) < np.linalg.norm(point - centres[1 - group])


def test_tsne_from_the_cli_writes_a_png(toy_store: Path, tmp_path: Path):
    out = tmp_path / "tsne.png"
    result = CliRunner().invoke(main, ["plot", "-s", str(toy_store), "king", "apple", "-k", "3", "--method", "tsne", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 1000


def test_tsne_without_scikit_learn_names_the_install_command(toy_store: Path, tmp_path: Path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "sklearn", None)  # `import sklearn...` now raises ImportError
    monkeypatch.setitem(sys.modules, "sklearn.manifold", None)
    with embedsearch.open_store(toy_store) as store:
        with pytest.raises(embedsearch.errors.ConfigError, match=r"pip install 'embedsearch-words\[plot\]'"):
            word_plot(store, ["king"], k=3, method="tsne")
    result = CliRunner().invoke(main, ["plot", "-s", str(toy_store), "king", "--method", "tsne", "-o", str(tmp_path / "m.png")])
    assert result.exit_code != 0 and "t-SNE needs scikit-learn" in result.output and "[plot]" in result.output
    assert not (tmp_path / "m.png").exists()
