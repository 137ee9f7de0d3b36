"""The reproduction report (report.py): tables and figures read from checkpoints, run folders and
JSONs (Figure 3, training curves, benchmarks, a checkpoint on the validation and on the test
data). Nothing here trains; the studies that train many runs are ``src/study`` (study.py). Each
subcommand is a small module here; plotting needs the optional extras in requirements-report.txt
(matplotlib, scikit-learn)."""
