"""``python -m pyama_dask`` is the ``pyama-dask`` command."""

import sys

from pyama_dask.cli import main

sys.exit(main())
