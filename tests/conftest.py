import os
import sys

# Development runs (scripts/dev-build) import the package from the source tree.
_src = os.path.join(os.path.dirname(__file__), "..", "python")
if os.path.exists(os.path.join(_src, "mxgluon", "_core.abi3.so")):
    sys.path.insert(0, os.path.abspath(_src))
sys.path.insert(0, os.path.dirname(__file__))
