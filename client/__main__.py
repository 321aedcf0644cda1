"""`python -m client verify REF TEST [TEST ...]`; see client/cli/."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
