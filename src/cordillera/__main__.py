"""`python -m cordillera <verb>`: the same entry point as the `cordillera` console script."""

import sys

from cordillera.cli import main

sys.exit(main())
