"""What eval and check run on: files, folders (recursive), globs; each file once."""

from promptlsp.ci.targets import expand


def test_files_folders_and_globs(write, tmp_path):
    a = write("a.prompt.toml", "")
    b = write("deep/er/b.prompt.toml", "")
    write("deep/notes.toml", "")
    write("deep/.hidden/c.prompt.toml", "")
    found = expand(["deep", "a.prompt.toml", "*.prompt.toml", "deep/**/*.prompt.toml"])
    assert [p.resolve() for p in found.files] == [b.resolve(), a.resolve()] and not found.problems


def test_a_named_file_is_taken_whatever_its_name_and_a_missing_one_is_left_to_the_reader(write):
    write("odd.toml", "")
    found = expand(["odd.toml", "missing.prompt.toml"])
    assert [p.name for p in found.files] == ["odd.toml", "missing.prompt.toml"]


def test_folders_and_globs_without_prompt_files_say_so(write):
    write("empty/readme.md", "")
    found = expand(["empty", "nothing/*.prompt.toml"])
    assert found.files == []
    assert found.problems == ["empty: no .prompt.toml files in this folder", "nothing/*.prompt.toml: matches no prompt files"]
