"""ctest Python.Binding driver: runs this directory's pytest suite, or exits 77
(ctest SKIP_RETURN_CODE) when pytest is not installed. SEPTET_LIB must name the
built libseptet.so."""
import os
import sys

try:
    import pytest
except ImportError:
    print("pytest is not installed (python3 -m pip install pytest); skipping")
    sys.exit(77)

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)  # the septet package from the source tree
sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", os.path.join(here, "tests")] + sys.argv[1:]))
