import pytest

from optimizer_support import make_file


@pytest.fixture
def prompt_file(tmp_path):
    return make_file(tmp_path)
