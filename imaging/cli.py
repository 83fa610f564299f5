"""The ``spmito`` command line (contract.md).

Each subcommand only parses its options and hands them to the module that does the work;
heavy modules (Cellpose, Dask) are imported when their subcommand runs, so ``--help``
is instant.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from spmito.imaging.choices import CELL_METHODS, DEVICES, GATES
from spmito.imaging.errors import SpmitoError

EXIT_OK, EXIT_FAILURES, EXIT_USAGE = 0, 1, 2


def _add_synth(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "synth",
        help="write synthetic fluorescence fields with exact ground truth",
        description="Write synthetic myeloma-like fields (hoechst, cell and mito channels) with "
        "ground-truth cell, nucleus and mitochondria labels and truth.csv per field, and a "
        "sample sheet. Deterministic: the same seed gives byte-identical files.",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created)")
    p.add_argument("--ndim", type=int, choices=(2, 3), default=2,
                   help="2 for YX fields, 3 for ZYX stacks (default: 2)")
    p.add_argument("--fields", type=int, default=4, metavar="N",
                   help="number of fields (images) to write (default: 4)")
    p.add_argument("--seed", type=int, default=0, metavar="S",
                   help="random seed; the same seed gives byte-identical images (default: 0)")
    p.add_argument("--mode", choices=("fields", "plate", "sorted"), default="fields",
                   help="fields: independent unsorted fields; plate: inhibitor-control and "
                   "test wells x replicates with a sample sheet; sorted: SP-only and MP-only "
                   "images (default: fields)")
    p.add_argument("--replicates", type=int, default=3, metavar="N",
                   help="biological replicates in plate/sorted mode (default: 3)")
    p.add_argument("--size-px", type=int, default=None, metavar="PX",
                   help="field width and height in pixels (default: 512 in 2-D, 320 in 3-D)")
    p.add_argument("--pixel-size", type=float, default=None, metavar="UM",
                   help="lateral pixel size in µm (default: 0.1 in 2-D, 0.12 in 3-D)")
    p.add_argument("--z-step", type=float, default=None, metavar="UM",
                   help="z step in µm for 3-D fields (default: 0.3)")
    p.add_argument("--sp-fraction", type=float, default=None, metavar="F",
                   help="fraction of SP cells in unsorted wells, 0-1 (default: 0.05)")
    p.add_argument("--sp-mito-ratio", type=float, default=None, metavar="R",
                   help="mean mitochondria count of SP cells / MP cells (default: 1.5)")
    p.add_argument("--snr", type=float, default=None, metavar="SNR",
                   help="mitochondria signal over background noise (default: 8)")
    p.add_argument("--mito-gap", type=float, default=None, metavar="UM",
                   help="smallest gap between two mitochondria in µm (default: 0.35)")
    p.add_argument("--density", type=float, default=None, metavar="F",
                   help="cell density: fraction of the field covered by cells, 0-1 "
                   "(default: 0.6)")
    p.add_argument("--preview", action=argparse.BooleanOptionalAction, default=True,
                   help="also write a colour preview PNG per field (default: on)")
    p.add_argument("--mito-layout", choices=("mixed", "fragmented", "networked"), default=None,
                   help="mitochondria: mixed kinds, mostly puncta and rods, or mostly "
                   "networks (default: mixed)")
    p.add_argument("--na", type=float, default=None, help="objective NA (PSF; default: 1.3)")
    p.add_argument("--mito-haze", type=float, default=None, metavar="F",
                   help="cytosolic mito signal / mitochondrion brightness (default: 0.04)")
    p.add_argument("--mito-saturation", type=float, default=None, metavar="F",
                   help="fraction of mitochondria pixels saturated (default: 0)")
    p.add_argument("--camera-gain", type=float, default=None, metavar="ADU",
                   help="ADU per photo-electron (default: 1)")
    p.add_argument("--camera-offset", type=int, default=None, metavar="ADU",
                   help="camera offset (default: 100)")
    p.add_argument("--bit-depth", type=int, choices=(8, 16), default=None,
                   help="image dtype uint8 or uint16 (default: 16)")
    p.add_argument("--chromocentres", type=float, default=None, metavar="UM",
                   help="bright DNA foci in the nuclei (mouse-like), this far apart in µm, "
                   "e.g. 1.5 (default: none)")
    p.add_argument("--chromocentre-contrast", type=float, default=None, metavar="X",
                   help="chromocentre peak over the nucleoplasm (default: 2)")


def _add_run_options(p: argparse.ArgumentParser) -> None:
    """Options of ``spmito run`` (each one also a key of the TOML config)."""
    p.add_argument("--config", metavar="FILE",
                   help="TOML file whose keys mirror these flags (e.g. cell_diameter = 12); "
                   "flags given on the command line win")
    p.add_argument("--channels", metavar="ROLE=CH,...",
                   help="channel roles mapped to a channel index or name, e.g. "
                   "hoechst=0,cell=1,mito=2 (default: from channel names in the file)")
    p.add_argument("--voxel-size", metavar="Z,Y,X|Y,X|XY",
                   help="voxel size in µm (one number: square pixels of 2-D images); "
                   "overrides the file's metadata (required when the file records none)")
    p.add_argument("--axes", metavar="AXES",
                   help="axes of the files when their metadata is missing or wrong, e.g. "
                   "ZCYX, CYX, TZCYX, YXS")
    p.add_argument("--timepoint", type=int, metavar="T",
                   help="time point to analyse in a time series (default: refuse time series)")
    p.add_argument("--model", metavar="NAME|PATH",
                   help="Cellpose model: 'bundled' (default, ships with spmito), a pretrained "
                   "name (cyto3, nuclei, ...) found in CELLPOSE_LOCAL_MODELS_PATH, or a file")
    p.add_argument("--cell-method", choices=CELL_METHODS,
                   help="how cells are found: cellpose (the cell model, default) or nuclei "
                   "(each nucleus grows over the cell stain, bounded by its edges, its "
                   "neighbours and --cell-max-distance; without a cell stain over the "
                   "mitochondria channel plus the Hoechst haze; one cell per nucleus). An "
                   "image without a cell channel always takes nuclei")
    p.add_argument("--cell-max-distance", type=float, metavar="UM",
                   help="cell method nuclei: how far (µm) a cell may reach beyond its "
                   "nucleus (default: the cell diameter)")
    p.add_argument("--divide-multinucleate-cells", action=argparse.BooleanOptionalAction,
                   default=None,
                   help="cell method cellpose: divide a cell of the model that holds several "
                   "nuclei into one cell per nucleus, over the cell stain (default: on; off "
                   "keeps binucleate cells, flagged as doublets)")
    p.add_argument("--nucleus-model", metavar="NAME|PATH",
                   help="Cellpose model for nuclei on the Hoechst channel: 'bundled' (default), "
                   "a cached name (nuclei) or a file")
    p.add_argument("--cell-diameter", type=float, metavar="UM",
                   help="typical cell diameter in µm (default: 12)")
    p.add_argument("--nucleus-diameter", metavar="UM|auto",
                   help="typical nucleus diameter in µm, or auto: estimated per image from "
                   "an Otsu mask of the Hoechst channel (default: 8)")
    p.add_argument("--flatfield", metavar="PATH",
                   help="flat-field image of the Hoechst channel (YX), divided out before "
                   "integrating nuclear Hoechst; corrects vignetting that fakes SP cells")
    p.add_argument("--cells-mask", metavar="PATH",
                   help="a cell label image to use instead of segmentation (single input "
                   "image; for many images use the sample sheet column cells_mask)")
    p.add_argument("--gate", choices=GATES,
                   help="how SP cells are called (default: control_quantile with >= 1000 "
                   "control cells, control_robust with 200-999, sheet for sorted plates)")
    p.add_argument("--gate-file", metavar="gate.json",
                   help="a gate saved by the napari SP gating widget (implies --gate manual)")
    _add_doublet_solidity(p)
    p.add_argument("--workers", type=int, metavar="N",
                   help="run on a local Dask cluster with N worker processes (default: serial)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="address of an existing Dask scheduler, e.g. tcp://10.0.0.1:8786")
    p.add_argument("--resume", action=argparse.BooleanOptionalAction, default=None,
                   help="skip images whose outputs match the input and parameters (default: on)")
    p.add_argument("--device", choices=DEVICES,
                   help="where Cellpose runs; auto uses a GPU when torch sees one "
                   "(default: auto)")
    p.add_argument("--allow-external-files", action="store_true", default=None,
                   help="let an OME-TIFF take pixels from other files its metadata names "
                   "(multi-file OME-TIFF); run.json then records the sha256 of each")
    p.add_argument("--allow-unusual-voxel-size", action="store_true", default=None,
                   help="accept voxel sizes outside 0.01-100 µm (refused as damaged metadata)")


def _add_run(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="analyse images, folders or a sample sheet into an output folder",
        description="Segment cells, nuclei and mitochondria, measure every cell, gate SP/MP "
        "and write tables, statistics, figures, QC checks (qc.csv) and report.html into DIR. "
        "Exit status: 0 all images done; 1 some images failed (see DIR/failures.csv), or a QC "
        "check warned with --strict; 2 bad usage.",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="image files (TIFF, OME-TIFF, ImageJ), folders of them, or a sample "
                   "sheet (.csv)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    _add_run_options(p)
    _add_strict(p)


def _add_strict(p: argparse.ArgumentParser) -> None:
    p.add_argument("--strict", action="store_true", default=None,
                   help="exit with status 1 when a plausibility check in DIR/qc.csv fails "
                   "(e.g. almost no mitochondria found); for pipelines that must not go on "
                   "(config key: strict = true)")


def _add_doublet_solidity(p: argparse.ArgumentParser) -> None:
    p.add_argument("--doublet-min-solidity", type=float, metavar="S",
                   help="a cell less solid than S (its area over its convex hull's) is "
                   "excluded from gating as a doublet (default: 0.9, domain.md's rule); 0 "
                   "turns the shape test off for spread adherent cells, whose nuclei already "
                   "show doublets (config key: doublet_min_solidity)")


def _add_report(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="redo gating, summaries, statistics and the report from DIR",
        description="Re-run the batch-level steps (gating, wells.csv, replicates.csv, "
        "stats.csv, figures, report.html) from the per-image outputs in DIR, including masks "
        "and classes corrected in napari.",
    )
    p.add_argument("dir", metavar="DIR", help="an output folder of spmito run")
    p.add_argument("--gate", choices=GATES,
                   help="gate to use instead of the one recorded in DIR/run.json")
    p.add_argument("--gate-file", metavar="gate.json", help="a manual gate to apply")
    _add_doublet_solidity(p)
    _add_strict(p)


def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="synthesise a small plate and run the whole pipeline on it (offline)",
        description="Make a small synthetic plate (inhibitor controls and test wells, "
        "3 replicates, SP and MP cells), run everything with the bundled model, and print "
        "where the report is and the headline numbers. Needs no network and no arguments.",
    )
    p.add_argument("--out", default="spmito-demo", metavar="DIR",
                   help="output folder (default: ./spmito-demo)")
    p.add_argument("--ndim", type=int, choices=(2, 3), default=2,
                   help="2-D fields or 3-D stacks (default: 2)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default: 0)")


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train or fine-tune a Cellpose cell model (e.g. on masks corrected in napari)",
        description="Train a Cellpose model on image/mask pairs; prints progress and, at the "
        "end, the average precision at IoU 0.5 on held-out images.",
    )
    p.add_argument("--images", nargs="+", metavar="IMAGE",
                   help="training images (files or folders); with --synthetic, omit")
    p.add_argument("--masks", nargs="+", metavar="MASK",
                   help="cell label images, one per image, same order (or folders)")
    p.add_argument("--out", required=True, metavar="MODEL", help="file to write the model to")
    p.add_argument("--base", metavar="MODEL",
                   help="model to fine-tune from: 'bundled', a name or a file "
                   "(default: train from scratch)")
    p.add_argument("--epochs", type=int, default=100, metavar="N",
                   help="training epochs (default: 100)")
    p.add_argument("--target", choices=("cells", "nuclei"), default="cells",
                   help="what the model segments: cells (from the cell channel helped by "
                   "hoechst) or nuclei (from hoechst) (default: cells)")
    p.add_argument("--learning-rate", type=float, default=0.005, metavar="LR",
                   help="peak AdamW learning rate (default: 0.005; use ~0.001 to fine-tune)")
    p.add_argument("--validation-fraction", type=float, default=0.2, metavar="F",
                   help="fraction of image/mask pairs held out for the final score "
                   "(default: 0.2)")
    p.add_argument("--channels", metavar="ROLE=CH,...",
                   help="channel roles of the training images (default: from channel names)")
    p.add_argument("--voxel-size", metavar="Y,X",
                   help="pixel size in µm when the images record none")
    p.add_argument("--synthetic", type=int, metavar="N",
                   help="train on N synthetic fields instead of --images/--masks")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default: 0)")
    p.add_argument("--device", choices=DEVICES, default="auto",
                   help="where training runs (default: auto)")


def _add_merge_channels(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "merge-channels",
        help="stack one field's single-channel files into the one OME-TIFF spmito run reads",
        description="Microscopes that write one TIFF per channel (ImageXpress, Opera, ...): "
        "stack the channels of one field into an OME-TIFF whose channels are named by role "
        "(so spmito run maps them without --channels) and which records the voxel size. "
        "Example: spmito merge-channels hoechst=A02_s1_w1.tif cell=A02_s1_w2.tif "
        "mito=A02_s1_w3.tif --voxel-size 0.3,0.3 --out A02_s1.ome.tif",
    )
    p.add_argument("files", nargs="*", metavar="ROLE=FILE",
                   help="a role (hoechst, cell, mito, hoechst_red, viability) and its file")
    p.add_argument("--sheet", metavar="CSV",
                   help="a plate at once: a sample sheet with one column per role (each a "
                   "channel file) instead of 'path'; --out is then a folder that gets one "
                   "OME-TIFF per row and the sheet.csv for spmito run")
    p.add_argument("--out", required=True, metavar="FILE|DIR",
                   help="the OME-TIFF to write (the folder with --sheet)")
    p.add_argument("--voxel-size", metavar="Z,Y,X|Y,X|XY",
                   help="voxel size in µm, when the files record none")
    p.add_argument("--axes", metavar="AXES", help="axes of the files when their metadata is "
                   "missing or wrong, e.g. ZYX")
    p.add_argument("--allow-unusual-voxel-size", action="store_true",
                   help="accept voxel sizes outside 0.01-100 µm")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``spmito`` with all subcommands."""
    parser = argparse.ArgumentParser(
        prog="spmito",
        description="Side-population vs main-population mitochondria analysis of "
        "fluorescence microscopy stacks. Every length is in micrometres (µm).",
    )
    parser.add_argument("--version", action="version", version=f"spmito {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (_add_demo, _add_run, _add_report, _add_synth, _add_train, _add_merge_channels):
        add(sub)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("spmito")
    except PackageNotFoundError:
        return "0+unknown"


# Each command imports its module only when it runs (here, in _run, _report and _with_qc):
# `spmito --help` and `spmito --version` then start in a fraction of a second instead of
# loading pandas, scipy, scikit-image and matplotlib (about 3 s on a 2-core machine).


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "synth":
        from spmito.imaging.synthetic import synth_command

        return synth_command(args)
    if args.command == "train":
        from spmito.imaging.train import train_command

        return train_command(args)
    if args.command == "demo":
        from spmito.imaging.demo import demo_command

        return demo_command(args)
    if args.command == "run":
        return _run(args)
    if args.command == "report":
        return _report(args)
    if args.command == "merge-channels":
        return _merge_channels(args)
    raise SpmitoError(f"'spmito {args.command}' is not available in this version yet.")


def _run_flag_names() -> tuple[str, ...]:
    """The ``spmito run`` options that become :class:`RunParams`, read off the parser."""
    probe = argparse.ArgumentParser(add_help=False)
    _add_run_options(probe)
    _add_strict(probe)
    return tuple(name for name in vars(probe.parse_args([])) if name != "config")


#: Option names passed to :func:`spmito.imaging.params.resolve_params` (never out of step
#: with the parser: taken from it).
_RUN_FLAGS = _run_flag_names()


def _run(args: argparse.Namespace) -> int:
    from spmito.imaging.batch import inputs_to_sheet, run_batch
    from spmito.imaging.params import resolve_params

    params = resolve_params({name: getattr(args, name) for name in _RUN_FLAGS}, args.config)
    outcome = run_batch(inputs_to_sheet(args.inputs), args.out, params)
    _print_outcome(outcome, args.out)
    return _with_qc(outcome.exit_code, args.out, params.strict)


def _report(args: argparse.Namespace) -> int:
    from spmito.imaging.summary import report_command

    return _with_qc(report_command(args.dir, gate=args.gate, gate_file=args.gate_file,
                                   doublet_min_solidity=args.doublet_min_solidity),
                    args.dir, bool(args.strict))


def _merge_channels(args: argparse.Namespace) -> int:
    from spmito.imaging.io import parse_voxel_size
    from spmito.imaging.merge import merge_channel_files, merge_channel_sheet

    voxel = parse_voxel_size(args.voxel_size) if args.voxel_size else None
    if bool(args.sheet) == bool(args.files):
        print("spmito merge-channels: give either ROLE=FILE pairs or --sheet", file=sys.stderr)
        return EXIT_USAGE
    if args.sheet:
        merged = merge_channel_sheet(args.sheet, args.out, voxel_size_um=voxel, axes=args.axes,
                                     allow_unusual_voxel_size=args.allow_unusual_voxel_size)
        print(f"wrote {merged.n_images} image(s) and {merged.sheet}: spmito run {merged.sheet} "
              "--out RESULTS")
        for failure in merged.failures:
            print(f"  failed: {failure}", file=sys.stderr)
        return EXIT_FAILURES if merged.failures else EXIT_OK
    files = {}
    for pair in args.files:
        role, sep, path = pair.partition("=")
        if not sep or not path or role.strip() in files:
            print(f"spmito merge-channels: {pair!r} is not a new ROLE=FILE pair, e.g. "
                  "hoechst=field_w1.tif", file=sys.stderr)
            return EXIT_USAGE
        files[role.strip()] = path
    out = merge_channel_files(files, args.out, voxel_size_um=voxel, axes=args.axes,
                              allow_unusual_voxel_size=args.allow_unusual_voxel_size)
    print(f"wrote {out} (channels {', '.join(files)})")
    return EXIT_OK


def _with_qc(exit_code: int, out_dir: str, strict: bool) -> int:
    """Print the QC summary of DIR/qc.csv; with ``--strict`` a failed check makes the status 1."""
    from spmito.imaging.qc import qc_summary_lines, read_qc

    qc = read_qc(out_dir)
    for line in qc_summary_lines(qc):
        print(line)
    if strict and qc is not None and len(qc):
        print("--strict: a plausibility check failed (qc.csv); exit status 1")
        return max(exit_code, EXIT_FAILURES)
    return exit_code


def _print_outcome(outcome, out_dir: str) -> None:
    done = sum(s.status == "done" for s in outcome.statuses)
    skipped = sum(s.status == "skipped" for s in outcome.statuses)
    print(f"{done} image(s) analysed, {skipped} already done, {outcome.n_failed} failed "
          f"(see {out_dir}/failures.csv)" if outcome.n_failed else
          f"{done} image(s) analysed, {skipped} already done, none failed")
    for note in outcome.notes:
        print(f"  {note}")
    print(f"report: {out_dir}/report.html")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``spmito`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except SpmitoError as error:
        print(f"spmito {args.command}: error: {error}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
