"""The standard: the control catalogue, the checks, the parallel verifier and its reports.

    from verify import run
    result = run(inv, limits=["dc"], junit="verify.xml", report="verify.html")
"""

from verify.catalogue import Catalogue, Control, load_catalogue
from verify.engine import run

__all__ = ["Catalogue", "Control", "load_catalogue", "run"]
