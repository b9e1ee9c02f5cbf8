import sys

from draggan_fast.cli import main

sys.exit(main())
