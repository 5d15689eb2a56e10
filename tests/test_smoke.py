import spacetimedb


def test_package_imports() -> None:
    assert issubclass(spacetimedb.ConversionError, spacetimedb.SpacetimeError)
    assert issubclass(spacetimedb.SchemaError, spacetimedb.SpacetimeError)
