"""``spmito demo``: a small synthetic plate, analysed end to end with the bundled model."""

from __future__ import annotations

import argparse
from pathlib import Path

from imaging.synthetic import SynthParams, write_synthetic_set


def demo_command(args: argparse.Namespace) -> int:
    """Synthesise a small plate into ``args.out/plate``.

    The analysis steps are added as the pipeline lands; until then the demo says plainly
    what it did and did not do.
    """
    out = Path(args.out)
    params = SynthParams.for_ndim(args.ndim)
    sheet = write_synthetic_set(out / "plate", params, n_fields=1, seed=args.seed, mode="plate",
                                replicates=3, progress=True)
    print(f"synthesised {len(sheet)} fields (inhibitor controls and test wells, 3 replicates) "
          f"in {out / 'plate'}; sample sheet: {out / 'plate' / 'sheet.csv'}")
    print("analysis: not run — the segmentation/measurement pipeline is not part of this "
          "version yet.")
    return 0
