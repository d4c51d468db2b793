"""A build zygote for the kill -9 trials: loads the model once, then forks one child per build on request.

Protocol (stdin/stdout lines): the parent writes `build`, the zygote answers `pid <child pid>` and, when the
child is gone, `exit <status>`; the parent kills the child with SIGKILL at a random moment in between.
Run as `python -m tests.reliability.killable_builder SOURCE INDEX`."""
from __future__ import annotations

import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ["TOKENIZERS_PARALLELISM"] = "false"


def main() -> None:
    import torch

    torch.set_num_threads(1)              # no OpenMP pool in the zygote: forking it is safe
    from indexer import build_index
    from indexer.config import Settings
    from indexer.embedding import embedder_for

    source, index = sys.argv[1], sys.argv[2]
    settings = Settings.from_env()
    embedder_for(settings)      # loaded once, shared by the forks
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() != "build":
            continue
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                build_index([source], index, settings=settings, progress=False, batch_articles=4)
            except BaseException as exc:  # reported, not raised: a fork must not return into the loop
                print(f"child error: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
                code = 1
            os._exit(code)
        print(f"pid {pid}", flush=True)
        _, status = os.waitpid(pid, 0)
        print(f"exit {status}", flush=True)


if __name__ == "__main__":
    main()
