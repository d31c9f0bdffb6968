import sys

from groovebridge.cli import main

sys.exit(main())
