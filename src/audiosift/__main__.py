import sys

from audiosift.cli.main import main

sys.exit(main())
