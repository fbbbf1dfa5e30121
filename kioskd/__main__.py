import sys

from kioskd.cli import main

sys.exit(main())
