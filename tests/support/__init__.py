"""What test modules share: data paths, test databases, in-process services, the process stack.

Plain helpers, no tests and no fixtures: conftest.py files define the fixtures on top of these,
and a test module imports from here, never from another test module or a conftest.
"""
