"""Options and helpers shared by demo.run and demo.eval."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from client import FaceClient, FaceClientError, VerificationResult
from client.cli.terminal import exit_code
from data.lfw import default_data_dir

RUNS = Path("runs")  # git-ignored: ordinary demo runs write here
REFRESHED = Path("reports")  # the committed examples, rewritten only with --refresh-examples


def add_client_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="folder holding lfw/ (default $DATA_DIR, else ../shared/data)")
    parser.add_argument("--threshold", type=float, default=None, help="override the server's threshold")
    parser.add_argument("--url", default=None, help="server address (default http://127.0.0.1:8080)")
    parser.add_argument("--token", default=None, help="inference key (default: TorchServe's key_file.json)")
    parser.add_argument("--key-file", default=None, help="TorchServe key_file.json")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per request (default 120)")
    parser.add_argument("--refresh-examples", action="store_true",
                        help="write the committed examples under reports/ instead of runs/")


def make_client(args: argparse.Namespace) -> FaceClient:
    return FaceClient(base_url=args.url, token=args.token, timeout=args.timeout, key_file=args.key_file)


def data_dir(args: argparse.Namespace) -> Path:
    return args.data_dir or default_data_dir()


def verify_all(client: FaceClient, reference: Path, tests: list[Path],
               threshold: float | None = None) -> VerificationResult:
    """All test photos in one answer named test_1..test_N (the client splits them into
    requests within the server's limit)."""
    return client.verify(reference, tests, threshold)


def output_path(args: argparse.Namespace, name: str) -> Path:
    """runs/demo/<name> (untracked), or reports/<name> with --refresh-examples (the
    committed examples); --out overrides both."""
    if args.out is not None:
        return args.out
    return (REFRESHED if args.refresh_examples else RUNS) / name


def run_main(main: Callable[[], int]) -> int:
    """Client errors become one clear line on stderr and the CLI's exit codes."""
    try:
        return main()
    except FaceClientError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exit_code(exc)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
