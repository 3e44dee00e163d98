"""``make bench`` and the commands around it: a run as named steps (``bench``, over
a validated ``plan``), its lock and processes (``control``), the final status of every
cell (``reconcile``), the checks before it (``preflight``, ``checkout``), the peak, the
published dashboard, the GPU wheels and ``make verify``.  Imports every layer below
tools."""
