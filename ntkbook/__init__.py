"""ntkbook: the JAX helper package of the Neural Tangent Kernel lecture book.

Modules follow the chapters:

- :mod:`ntkbook.kernels`: classical kernels and explicit feature maps (chapter 1)
- :mod:`ntkbook.regression`: linear, kernel and kernel ridge regression (chapter 1)
- :mod:`ntkbook.networks`: MLPs in the NTK parameterisation (chapter 2)
- :mod:`ntkbook.tangent`: empirical, infinite-width and Monte Carlo tangent kernels (chapter 2)
- :mod:`ntkbook.dynamics`: gradient descent, linearised model, gradient flow (chapter 3)
- :mod:`ntkbook.convergence`: the convergence proof for wide two-layer ReLU networks (chapter 4)
- :mod:`ntkbook.feature_learning`: the lazy/rich dial, kernel movement, alignment, the catapult (chapter 5)
- :mod:`ntkbook.blocks`: kernel matrices in tiles, spread over all devices (chapters 2 to 5)
- :mod:`ntkbook.data`: small synthetic data sets
- :mod:`ntkbook.rates`: power-law fits for asymptotic claims
- :mod:`ntkbook.plotting`: the book's figure style
"""

from . import blocks, convergence, data, dynamics, feature_learning, kernels, networks, plotting, rates, regression, tangent

__version__ = "0.1.0"
__all__ = ["blocks", "convergence", "data", "dynamics", "feature_learning", "kernels", "networks", "plotting", "rates", "regression", "tangent", "__version__"]
