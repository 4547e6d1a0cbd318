"""Record ids as clients make them: lower-case UUIDs."""

from fieldapp.ids import is_valid_id, new_id


def test_a_new_id_is_valid_and_a_line_break_after_it_is_not():
    record_id = new_id()
    assert is_valid_id(record_id)
    assert not is_valid_id(record_id + "\n") and not is_valid_id(" " + record_id)
    assert not is_valid_id(record_id.upper()) and not is_valid_id(None)
