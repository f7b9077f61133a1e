"""`nauplius model train --project`: the command's refusals, and the class folders a project's
taxa become (the real fetch and training runs are in tests/worker/test_train_jobs.py)."""
from pathlib import Path

import pytest

from nauplius.cli import main
from nauplius.training.project import ProjectTree, check_trainable, class_folder


def test_the_command_says_when_the_gateway_cannot_be_reached(capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("torch")
    code = main(["model", "train", "--project", "1", "--url", "http://127.0.0.1:9",
                 "--epochs", "1"])
    assert code == 1
    assert "cannot reach the gateway at http://127.0.0.1:9" in capsys.readouterr().err


def test_the_command_takes_a_project_or_folders_not_both(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["model", "train", "--project", "1", "--data", str(tmp_path)])
    assert exit_.value.code == 2


def test_a_taxon_becomes_one_folder_name_whatever_it_holds() -> None:
    assert class_folder("Daphnia sp.") == "Daphnia sp."
    assert class_folder("Cyclopoida/nauplius") == "Cyclopoida_nauplius"
    assert class_folder(".hidden") == "_hidden"


def test_one_class_is_not_enough_to_fine_tune(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="project 3 has validated images of 1 class"):
        check_trainable(3, ProjectTree(tmp_path, {"daphnia": 12}))
