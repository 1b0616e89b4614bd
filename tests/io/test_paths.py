from ielmscan.io.paths import can_create_files


def test_writable_folder_accepts_files_and_probe_leaves_nothing(tmp_path):
    assert can_create_files(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_folder_marked_read_only_is_respected_even_for_root(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        assert not can_create_files(folder)
    finally:
        folder.chmod(0o755)


def test_missing_folder_accepts_nothing(tmp_path):
    assert not can_create_files(tmp_path / "absent")
