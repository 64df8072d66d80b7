"""``embedsearch plot``: words and their neighbours on a 2-D map, as PNG, SVG or HTML."""
from __future__ import annotations

from pathlib import Path

import click

from ..errors import install_hint
from .app import emit_json, json_option, main, open_store_option, refuse_overwrite, store_option


@main.command()
@click.argument("words", nargs=-1, required=True)
@store_option
@click.option("-k", "k", type=click.IntRange(min=1, max=200), default=10, show_default=True,
              help="Neighbours of each word.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Picture to write: .png, .svg or .html (a self-contained page).")
@click.option("--method", type=click.Choice(["pca", "tsne"]), default="pca", show_default=True,
              help="Projection to 2-D: PCA (deterministic) or t-SNE (needs scikit-learn).")
@click.option("--title", default=None, help="Title of the picture. Default: the words.")
@click.option("--seed", type=click.IntRange(min=0), default=1, show_default=True, help="t-SNE's random seed.")
@click.option("--force", is_flag=True, help="Replace the output file if it exists.")
@json_option
def plot(words: tuple[str, ...], store_path: Path | None, k: int, output: Path, method: str, title: str | None,
         seed: int, force: bool, as_json: bool) -> None:
    """WORDS and their nearest neighbours projected to 2-D, labelled and coloured by word.

    Hangul labels render with NanumGothic (the `plot` extra).

    \b
    Examples:
      embedsearch plot king queen paris -o map.png
      embedsearch plot 서울 부산 -s ko_store -k 15 -o map.svg
      embedsearch plot coffee tea -o map.html --method tsne
    """
    if output.suffix.lower() not in (".png", ".svg", ".html"):
        raise click.BadParameter("the output must end in .png, .svg or .html", param_hint="-o")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise click.ClickException(f"plots need matplotlib: {install_hint('plot')}") from None
    from ..plot import save_plot, word_plot

    refuse_overwrite([output], force)
    with open_store_option(store_path) as store:
        picture = word_plot(store, list(words), k=k, method=method, seed=seed)
    save_plot(picture, output, title=title)
    if as_json:
        emit_json({"output": str(output), "words": len(picture.points), "queries": picture.queries,
                   "method": picture.method})
        return
    click.echo(f"wrote {output} ({len(picture.points)} words)", err=True)
