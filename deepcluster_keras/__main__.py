import sys
import warnings

from deepcluster_keras.cli import main


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"warning: {message}", file=sys.stderr)


warnings.showwarning = _show_warning  # a plain line for command-line users, no source excerpt
sys.exit(main())
