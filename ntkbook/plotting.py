"""The book's figure style, so that chapters share one look without boilerplate."""

from __future__ import annotations

import matplotlib as mpl

__all__ = ["book_style", "PALETTE"]

#: Colour-blind-safe qualitative palette (Okabe and Ito, 2008).
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")


def book_style() -> None:
    """Set matplotlib defaults for the book's figures (size, fonts, grid, colours).

    Changes ``matplotlib.rcParams`` for the rest of the session and returns nothing.

    Examples:
        >>> import matplotlib as mpl
        >>> from ntkbook import plotting
        >>> plotting.book_style()
        >>> mpl.rcParams["axes.grid"], tuple(mpl.rcParams["figure.figsize"])
        (True, (8.0, 3.2))
    """
    mpl.rcParams.update(
        {
            "figure.figsize": (8.0, 3.2),
            "figure.dpi": 100,
            "savefig.dpi": 100,
            "figure.constrained_layout.use": True,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.prop_cycle": mpl.cycler(color=PALETTE),
            "font.size": 10,
            "legend.frameon": False,
            "lines.linewidth": 1.8,
        }
    )
