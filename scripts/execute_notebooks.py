"""Re-execute chapter notebooks in place, top to bottom, with no timing metadata.

``make execute`` runs every chapter; ``make execute NB=chapters/02_softmax.ipynb``
one. The stored outputs are what the book shows and what ``pytest --nbval``
compares against, so after editing a chapter run this and commit the result:
the diff then holds only real changes (no timestamps, fresh execution counts).
"""

import pathlib
import sys
import time

import nbclient
import nbformat

TIMEOUT = 600  # seconds a cell may run


def merge_streams(outputs: list) -> list:
    """Join consecutive pieces of one stream, which the kernel splits under load.

    Otherwise the stored file changes from run to run, and the book shows one
    printout as several boxes.
    """
    merged: list = []
    for out in outputs:
        last = merged[-1] if merged else None
        if (
            out.output_type == "stream"
            and last is not None
            and last.output_type == "stream"
            and last.name == out.name
        ):
            last.text += out.text
        else:
            merged.append(out)
    return merged


def execute(path: pathlib.Path) -> float:
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    client = nbclient.NotebookClient(
        nb,
        timeout=TIMEOUT,
        kernel_name="python3",
        record_timing=False,
        # every figure records the size of its smallest text (booktools.figures)
        extra_arguments=["--ext=booktools.figures"],
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    elapsed = time.perf_counter() - start
    for cell in nb.cells:
        cell.get("metadata", {}).pop("execution", None)  # left even without timing
        if cell.cell_type == "code":
            cell.outputs = merge_streams(cell.outputs)
    nbformat.write(nb, path)
    return elapsed


def main(paths: list[str]) -> None:
    for name in sorted(paths):
        path = pathlib.Path(name)
        print(f"executing {path} ...", end=" ", flush=True)
        print(f"{execute(path):.1f} s")


if __name__ == "__main__":
    main(sys.argv[1:] or [str(p) for p in pathlib.Path("chapters").glob("*.ipynb")])
