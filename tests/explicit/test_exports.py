import types

import mmalign.explicit as E


def test_every_public_name_resolves_to_an_object_not_a_module():
    # importing the torch loss imports the private soft-DTW module first; the package
    # attributes must still be the functions, whatever the import order
    import mmalign.explicit.soft_dtw_torch  # noqa: F401

    for name in E.__all__:
        value = getattr(E, name)
        assert not isinstance(value, types.ModuleType), name
    assert callable(E.soft_dtw) and callable(E.dtw) and callable(E.ctw) and callable(E.dba)


def test_unknown_name_is_an_attribute_error():
    try:
        E.no_such_function  # noqa: B018
    except AttributeError as exc:
        assert "no_such_function" in str(exc)
    else:
        raise AssertionError("expected AttributeError")
