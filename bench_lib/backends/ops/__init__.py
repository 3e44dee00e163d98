"""Each framework's spelling of ``core.models.ArrayOps``: its own operations for every
function the losses are written in (one module per framework, ``array_ops(fw, cell)``).

Where a framework has two forms of one operation and only one of them has the
derivatives a cell needs, the module picks the form per cell and names it in
``ArrayOps.forms``, which the cell records: a cell is never silently different from
its siblings.
"""

from bench_lib.core.cells import Cell
from bench_lib.core.models import FORM_OPERATIONS


def forms_of(cell: Cell, **forms: str) -> dict[str, str]:
    """The forms, among ``forms`` (operation -> form), of the operations the cell's
    model uses."""
    assert set(forms) <= set(FORM_OPERATIONS), forms
    return {operation: form for operation, form in forms.items() if operation in cell.case.operations}
