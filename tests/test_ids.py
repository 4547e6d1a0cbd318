"""Record ids as clients make them: lower-case UUIDs, checked one by one or a whole batch at once."""

from fieldapp.ids import ids_all_valid, is_valid_id, new_id


def test_a_new_id_is_valid_and_a_line_break_after_it_is_not():
    record_id = new_id()
    assert is_valid_id(record_id)
    assert not is_valid_id(record_id + "\n") and not is_valid_id(" " + record_id)
    assert not is_valid_id(record_id.upper()) and not is_valid_id(None)


def test_a_batch_of_ids_is_valid_only_when_each_is():
    ids = [new_id() for _ in range(50)]
    assert ids_all_valid(ids) and ids_all_valid(ids[:1])
    assert not ids_all_valid([])
    assert not ids_all_valid(ids + ["not-an-id"])
    assert not ids_all_valid(ids[:-2] + [ids[-2] + "\n" + ids[-1]])  # one value hiding two ids
    assert not ids_all_valid(ids[:-1] + [ids[-1] + "\n"])
    assert not ids_all_valid(ids[:-1] + [None])
    assert all(ids_all_valid(sample) == all(is_valid_id(v) for v in sample)
               for sample in (ids[:3], [ids[0], ids[1].upper()], [ids[0], ""]))
