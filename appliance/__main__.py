"""`python -m appliance` runs the same CLI as the `dentra` console script."""

import sys

from appliance.cli import main

sys.exit(main())
