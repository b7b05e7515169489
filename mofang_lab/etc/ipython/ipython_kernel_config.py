"""Loads Mofang's job magics (%mofang_submit, ...) in every IPython kernel.

Installed as ``<prefix>/etc/ipython/ipython_kernel_config.py``, a folder every
IPython kernel of this environment reads its configuration from. ``append``
adds to the extensions other configuration files name instead of replacing them.
"""

c = get_config()  # type: ignore[name-defined]  # noqa: F821
c.InteractiveShellApp.extensions.append("mofang_lab")
