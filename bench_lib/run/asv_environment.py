"""asv's environment of ``make bench`` (an asv plugin: ``"environment_type": "installed"``
and ``"plugins"`` in asv.conf.json): the Python that runs asv, with the suite and the
frameworks already installed, as asv's ``existing`` environment, but named by what its
results depend on.

asv names an ``existing`` environment after its interpreter's path
(``existing-py_work_main_.venv_bin_python``) and records that path as the results'
``python``: two checkouts with the same versions then file their results under two
names, ``asv compare`` matches no row between them and the dashboard draws two series.
This environment is named by the Python version, each framework's installed version and
the matrix's variables (the thread count), e.g.
``installed-py3.11-jax0.10.2-jaxlib0.10.2-tensorflow2.21.0-torch2.14.1-BENCH_THREADS2``,
and records the Python version as ``python`` and the versions as its requirements,
so the dashboard offers them as it does a virtualenv's.

Its Python is ``same`` (the Python running asv: ``asv run -E installed:same``, what
``bench`` passes), a version such as ``3.11`` (asv's default ``pythons``: the running
Python where it is that version, else ``python3.11`` on the PATH) or a path.  Like
``existing``, it installs nothing: a matrix's requirements are not installed, and its
name says which versions ran.
"""

from __future__ import annotations

import json
import subprocess
import sys

from asv import util
from asv.environment import EnvironmentUnavailable, ExistingEnvironment, get_env_name

from bench_lib.core.cells import DISTRIBUTIONS

TOOL_NAME = "installed"

_DESCRIBE = """
import json, sys
from importlib import metadata

def version(names):
    for name in names:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            pass

wanted = json.loads(sys.argv[1])
print(json.dumps({"python": "%d.%d" % sys.version_info[:2],
                  "frameworks": {key: version(names) for key, names in wanted.items()}}))
"""


def _distributions() -> dict[str, tuple[str, ...]]:
    """Each framework distribution's recorded name -> the names pip may install it as."""
    return {name: installed_as for names in DISTRIBUTIONS.values() for name, installed_as in names.items()}


def executable_for(python: str) -> str:
    """The interpreter that ``python`` (``same``, a version or a path) names."""
    if python == "same" or python == "{0}.{1}".format(*sys.version_info):
        return sys.executable
    if python.replace(".", "").isdigit():
        python = f"python{python}"
    try:
        return util.which(python)
    except OSError as error:
        raise EnvironmentUnavailable(f"{TOOL_NAME}: no Python {python!r} on the PATH") from error


def describe(executable: str) -> tuple[str, dict[str, str]]:
    """``executable``'s Python version (``3.11``) and the installed version of each
    framework (absent where not installed)."""
    try:
        output = subprocess.run(
            [executable, "-c", _DESCRIBE, json.dumps(_distributions())],
            capture_output=True, text=True, check=True, timeout=120,
        ).stdout
    except (OSError, subprocess.SubprocessError) as error:
        raise EnvironmentUnavailable(f"{TOOL_NAME}: cannot ask {executable} for its versions: {error}") from error
    described = json.loads(output)
    return described["python"], {name: version for name, version in described["frameworks"].items() if version}


class InstalledEnvironment(ExistingEnvironment):
    tool_name = TOOL_NAME

    def __init__(self, conf, python, requirements, tagged_env_vars):
        executable = executable_for(python)
        # before asv's own __init__, which already names the environment
        self._version, self._frameworks = describe(executable)
        super().__init__(conf, executable, dict(self._frameworks), tagged_env_vars)
        self._python = self._version  # the results' "python": a version, not this checkout's path

    @property
    def name(self) -> str:
        return get_env_name(self.tool_name, self._version, self._frameworks, self._tagged_env_vars)
