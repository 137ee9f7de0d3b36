"""What every study shares: its error, its seeds and where a (variant, seed) run lives."""

import os

from ..errors import UsageError

DEFAULT_SEEDS = (0, 1, 2)


class StudyError(UsageError):
    """A study cannot go on (bad option, missing run or data, config drift); one-line message."""


def parse_seeds(text, default=DEFAULT_SEEDS):
    """``"0,1,2"`` → [0, 1, 2] (order kept, duplicates dropped); empty → ``default``."""
    out = []
    for part in str(text or "").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            seed = int(part)
        except ValueError:
            raise StudyError(f"--seeds: {part!r} is not an integer (write e.g. --seeds 0,1,2)") from None
        if seed < 0:
            raise StudyError(f"--seeds: {seed} is negative")
        if seed not in out:
            out.append(seed)
    return out or list(default)


def run_dir(out, variant, seed):
    """The run folder of (variant, seed): ``<out>/<variant>/seed<k>``."""
    return os.path.join(out, variant, f"seed{int(seed)}")
