import sys

from nb_mlops.cli import main

sys.exit(main())
