"""``audiosift.distributed`` is Ray plumbing that knows nothing of evaluation: no import cycle."""

from __future__ import annotations

import json
import subprocess
import sys


def test_distributed_imports_neither_evaluation_nor_ray_until_used():
    code = ("import json, sys, audiosift.distributed.ray_engine; "
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('audiosift.evaluation', 'ray')))))")
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                       check=True).stdout)
    assert loaded == []
