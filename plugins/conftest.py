"""pytest configuration shared by the plugins' tests."""

# The template is not installed here (it would appear as a format in `stackio demo`), so its tests
# cannot import it: tests/test_template.py copies it as the docs say, installs the copy and runs them.
collect_ignore = ["_template"]
