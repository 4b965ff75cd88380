"""The .dockerignore matcher against Docker's rules: `*` and `?` within one path element, `**`
across directories, parent directories, `!` exceptions and the last matching rule deciding."""

from __future__ import annotations

import pytest

from tests.support.dockerignore import dockerignore_rules, excluded


@pytest.mark.parametrize(("patterns", "path", "left_out"), [
    # a name leaves out the file or the directory with everything under it
    ("data", "data", True),
    ("data", "data/MNIST/raw/x.gz", True),
    ("data", "database.py", False),
    ("data", "src/data", False),
    # leading slashes and ./ change nothing: patterns are relative to the context
    ("/build", "build/lib/x.py", True),
    ("./dist", "dist/x.whl", True),
    # * and ? stay within one path element
    ("*.md", "CHANGES.md", True),
    ("*.md", "docs/CHANGES.md", False),
    ("docs/*.md", "docs/CHANGES.md", True),
    ("docs/*.md", "docs/api/CHANGES.md", False),
    ("file?.txt", "file1.txt", True),
    ("file?.txt", "file10.txt", False),
    ("file?.txt", "file/.txt", False),
    ("log[0-9].txt", "log7.txt", True),
    ("log[0-9].txt", "logx.txt", False),
    # ** is any number of directories, none included
    ("**/__pycache__", "__pycache__/c.pyc", True),
    ("**/__pycache__", "a/b/__pycache__/c.pyc", True),
    ("**/*.pyc", "a/b/c.pyc", True),
    ("**/*.pyc", "c.pyc", True),
    ("docs/**/*.png", "docs/a/b/x.png", True),
    ("docs/**/*.png", "docs/x.png", True),
    ("docs/**/*.png", "img/x.png", False),
    # comments and blank lines are no patterns
    ("# data\n\n", "data/x", False),
])
def test_a_pattern_leaves_out_what_docker_leaves_out(patterns, path, left_out):
    assert excluded(path, dockerignore_rules(patterns)) is left_out


@pytest.mark.parametrize(("patterns", "path", "left_out"), [
    ("*.md\n!README.md", "README.md", False),
    ("*.md\n!README.md", "CHANGES.md", True),
    ("!README.md\n*.md", "README.md", True),  # the last matching rule decides
    ("data\n!data/keep.txt", "data/keep.txt", False),
    ("data\n!data/keep.txt", "data/other.txt", True),
    ("**\n!src\n", "src/app.py", False),
    ("**\n!src\n", "tests/test_app.py", True),
    ("**\n!src\nsrc/**/*.pyc", "src/pkg/app.pyc", True),
    ("!README.md", "README.md", False),  # an exception alone leaves nothing out
])
def test_exceptions_take_paths_back_until_a_later_rule_leaves_them_out(
    patterns, path, left_out
):
    assert excluded(path, dockerignore_rules(patterns)) is left_out


def test_rules_keep_their_order_and_mark_the_exceptions():
    rules = dockerignore_rules("# comment\n*.md\n\n  !README.md  \n")
    assert [(exception, regex.pattern) for exception, regex in rules] == [
        (False, r"[^/]*\.md"),
        (True, r"README\.md"),
    ]
