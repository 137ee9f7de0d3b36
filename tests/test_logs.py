"""Logging (src/logs.py): the console as print gave it, a run's train.log, ranks other than 0 quiet."""

from src.logs import capture, get_logger, log_to_file, setup_rank


def test_log_to_file_tees_into_a_new_folder(tmp_path, capsys):
    log = get_logger("src.test")
    path = tmp_path / "new" / "run" / "train.log"
    with log_to_file(str(path)):
        log.info("both")
    with log_to_file(str(path), echo=False):
        log.info("file only")
    log.info("console only")
    assert path.read_text().splitlines() == ["both", "file only"]
    assert capsys.readouterr().out.splitlines() == ["both", "console only"]


def test_other_ranks_log_only_warnings_unless_asked(capsys):
    log = get_logger("src.test")
    try:
        setup_rank(1)
        with capture() as lines:
            log.info("hidden")
            log.warning("shown")
        assert capsys.readouterr().out.splitlines() == ["[rank 1] shown"] and lines == ["hidden", "shown"]
        setup_rank(1, all_ranks=True)
        log.info("all")
        assert capsys.readouterr().out.splitlines() == ["[rank 1] all"]
    finally:
        setup_rank(0)
    log.info("rank 0")
    assert capsys.readouterr().out.splitlines() == ["rank 0"]
