import sys

from deepcluster_keras.cli import main

sys.exit(main())
