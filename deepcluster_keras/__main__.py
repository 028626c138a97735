import os
import sys
import warnings

# TensorFlow runs independent operations of a training step side by side by
# default, and then a convolution followed by batch normalisation (DAC's
# network) does not give the same weights twice from one seed; run one at a
# time, it does, at no measured cost (the dense models give the same bits
# either way). Read when TensorFlow starts, so set before it is imported; a
# value the user set wins.
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")

from deepcluster_keras.cli import main  # noqa: E402


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"warning: {message}", file=sys.stderr)


warnings.showwarning = _show_warning  # a plain line for command-line users, no source excerpt
sys.exit(main())
