import sys

from llmrelay.cli import main

sys.exit(main())
