"""`python -m oekaki.app`: the draw-it-yourself page (oekaki/app/serve.py)."""

import sys

from oekaki.app.serve import main

if __name__ == "__main__":
    sys.exit(main())
