"""The group committer's writer process: ``python -m governance.writer FD_IN FD_OUT``.

Started by :class:`governance.committer.GroupCommitter`, never by hand.
"""

from __future__ import annotations

import sys

from governance.committer import writer_main

if __name__ == "__main__":
    writer_main(int(sys.argv[1]), int(sys.argv[2]))
