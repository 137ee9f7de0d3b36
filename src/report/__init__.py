"""The reproduction report (report.py): ablation tables in miniature, Figure 3, training curves,
benchmarks. Each subcommand is a small module here; plotting needs the optional extras in
requirements-report.txt (matplotlib, scikit-learn)."""
