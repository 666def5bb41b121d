"""The package as a user gets it: a wheel built from a fresh clone by the standard
frontend (``python -m build``), installed into a clean virtual environment with only
the package's own loose dependencies, runs the README's package example. And the
floor environment that ``make test`` runs the module tests in pins exactly the lower
bounds that ``pyproject.toml`` declares.

The first test needs PyPI (for ``build``, setuptools and the dependencies); CI's
network allows package registries.
"""

import re
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_example() -> str:
    """The Python blocks of the README's "Using the package alone" section, in order."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Using the package alone", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) >= 2, "the README's package section should show the kernel and tangent examples"
    return "\n".join(blocks)


def run(cmd, cwd, timeout):
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def make_venv(path: Path) -> Path:
    venv.EnvBuilder(with_pip=True, clear=True).create(path)
    return path / "bin" / "python"


def test_wheel_from_a_fresh_clone_runs_the_readme_example(tmp_path):
    clone = tmp_path / "clone"
    run(["git", "clone", "--quiet", "--depth", "1", f"file://{ROOT}", clone], tmp_path, 300)

    tools = make_venv(tmp_path / "tools")  # the build frontend, kept out of the user's environment
    run([tools, "-m", "pip", "install", "--quiet", "build"], tmp_path, 600)
    run([tools, "-m", "build", "--wheel", "--outdir", tmp_path / "dist", clone], tmp_path, 600)
    wheels = list((tmp_path / "dist").glob("ntkbook-*.whl"))
    assert len(wheels) == 1, wheels

    user = make_venv(tmp_path / "user")
    run([user, "-m", "pip", "install", "--quiet", wheels[0]], tmp_path, 900)
    installed = run([user, "-m", "pip", "list", "--format=freeze"], tmp_path, 120)
    names = {line.split("==")[0].lower() for line in installed.split()}
    assert {"ntkbook", "jax", "jaxlib", "numpy", "matplotlib"} <= names
    assert not names & {"pytest", "scikit-learn", "jupyter-book", "nbval"}, "only the package's own dependencies (and theirs)"

    # The example from an empty directory, so that the clone's sources cannot shadow the wheel.
    script = tmp_path / "example.py"
    script.write_text(
        readme_example()
        + "\nimport ntkbook, jax.numpy as jnp"
        + "\nassert 'site-packages' in ntkbook.__file__, ntkbook.__file__"
        + "\nassert predictions.shape == (len(x_test),) and bool(jnp.all(jnp.isfinite(predictions)))"
        + "\nassert theta.shape == theta_inf.shape == (len(x), len(x))"
        + "\nprint('example ran', ntkbook.__version__)\n"
    )
    (tmp_path / "empty").mkdir()
    out = run([user, script], tmp_path / "empty", 600)
    assert "example ran" in out


def lower_bounds(requirements) -> dict:
    bounds = {}
    for req in requirements:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*>=\s*([0-9.]+)(,.*)?", req.replace(" ", ""))
        assert match, f"every dependency needs a lower bound '>=': {req!r}"
        bounds[match[1].lower()] = match[2]
    return bounds


def test_floor_environment_pins_the_declared_lower_bounds():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    bounds = lower_bounds(project["dependencies"])
    pins = dict(
        line.split("==")
        for line in (ROOT / "requirements" / "floor.txt").read_text().split("\n")
        if line and not line.startswith("#")
    )
    pins = {name.lower(): version for name, version in pins.items()}
    release = lambda v: tuple(int(p) for p in v.split("."))
    for name, version in bounds.items():
        assert name in pins and release(pins[name]) == release(version), (
            f"requirements/floor.txt must pin {name}=={version} (pyproject: >={version}), got {pins.get(name)}"
        )
    # jaxlib is jax's own dependency; the floor takes the release that matches the jax floor
    assert release(pins["jaxlib"]) == release(bounds["jax"])
    python = tuple(int(p) for p in project["requires-python"].lstrip(">=").split("."))
    assert sys.version_info[:2] >= python


def test_colab_install_cell_upgrades_an_old_jax_to_a_working_one(tmp_path):
    """The chapters' hidden first cell, run in a runtime with a JAX below the floor and
    NumPy 1 (packages there compiled for it): JAX must come out at or above the floor,
    jaxlib matching it, NumPy still 1.x, and the package importable and working.
    The cell installs from the configured repository; here from a fresh local clone."""
    import json

    import yaml

    cells = []
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        first = next(c for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "code")
        cells.append("".join(first["source"]))
    assert len(set(cells)) == 1, "every chapter should carry the same install cell"
    repo = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]
    requirement = f"ntkbook @ git+{repo['url']}@{repo['branch']}"
    assert requirement in cells[0]
    clone = tmp_path / "clone"
    run(["git", "clone", "--quiet", "--depth", "1", f"file://{ROOT}", clone], tmp_path, 300)
    cell = tmp_path / "cell.py"
    cell.write_text(cells[0].replace(requirement, str(clone)))

    old = make_venv(tmp_path / "runtime")
    run([old, "-m", "pip", "install", "--quiet", "jax==0.4.30", "jaxlib==0.4.30", "numpy==1.24.4",
         "matplotlib==3.7.0", "pyparsing==3.0.9"], tmp_path, 900)
    (tmp_path / "empty").mkdir()
    run([old, cell], tmp_path / "empty", 900)

    floor = lower_bounds(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"])["jax"]
    check = (
        "import jax, jaxlib, numpy, matplotlib, ntkbook\n"
        "from ntkbook import networks, tangent\n"
        "x = jax.random.normal(jax.random.key(0), (6, 3))\n"
        "k = tangent.infinite_width(networks.MLP(widths=(1, 1), activation='relu'), x)\n"
        "assert k.ntk.shape == (6, 6) and bool(jax.numpy.all(jax.numpy.isfinite(k.ntk)))\n"
        "print(jax.__version__, jaxlib.__version__, numpy.__version__)\n"
    )
    jax_version, jaxlib_version, numpy_version = run([old, "-c", check], tmp_path / "empty", 300).split()
    release = lambda v: tuple(int(p) for p in re.findall(r"\d+", v)[:3])
    assert release(jax_version) >= release(floor) and jaxlib_version == jax_version
    assert numpy_version.startswith("1."), f"the cell moved a NumPy 1 runtime to NumPy {numpy_version}"
