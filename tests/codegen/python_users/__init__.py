"""User code written against generated Python bindings, type-checked by tests/codegen/test_python_bindings_mypy.py.

These files import packages that exist only once the test has generated them; they are not run here.
"""
