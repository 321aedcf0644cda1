"""Options and helpers shared by demo.run and demo.eval."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from client import FaceClient, FaceClientError, VerificationResult
from client.cli import EXIT_CODES
from demo.sampling import default_data_dir

# The server's default per-request limit of test photos; larger folders are sent in chunks.
MAX_PER_REQUEST = 32


def add_client_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="folder holding lfw/ (default $DATA_DIR, else ../shared/data)")
    parser.add_argument("--threshold", type=float, default=None, help="override the server's threshold")
    parser.add_argument("--url", default=None, help="server address (default http://127.0.0.1:8080)")
    parser.add_argument("--token", default=None, help="inference key (default: TorchServe's key_file.json)")
    parser.add_argument("--key-file", default=None, help="TorchServe key_file.json")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per request (default 120)")


def make_client(args: argparse.Namespace) -> FaceClient:
    return FaceClient(base_url=args.url, token=args.token, timeout=args.timeout, key_file=args.key_file)


def data_dir(args: argparse.Namespace) -> Path:
    return args.data_dir or default_data_dir()


def verify_all(client: FaceClient, reference: Path, tests: list[Path], threshold: float | None = None,
               chunk: int = MAX_PER_REQUEST) -> VerificationResult:
    """One request per `chunk` test photos, merged into one result named test_1..test_N."""
    parts = [client.verify(reference, tests[i : i + chunk], threshold) for i in range(0, len(tests), chunk)]
    if len(parts) == 1:
        return parts[0]
    results = []
    for part in parts:
        for item in part.results:
            results.append(item.model_dump(mode="json") | {"name": f"test_{len(results) + 1}"})
    return VerificationResult.model_validate(parts[0].model_dump(mode="json") | {"results": results})


def run_main(main: Callable[[], int]) -> int:
    """Client errors become one clear line on stderr and the CLI's exit codes."""
    try:
        return main()
    except FaceClientError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return next(code for kind, code in EXIT_CODES if isinstance(exc, kind))
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
