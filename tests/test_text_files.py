"""zoo.data.text_files.read_table: a user's UTF-8 CSV / TSV file, errors naming the line and columns."""

import pytest

from zoo.data.text_files import delimiter_of, read_table


def _write(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


def test_csv_quoting_bom_blank_lines_and_tsv_without_quoting(tmp_path):
    f = _write(tmp_path, "a.csv", '\ufefftext,label,x\n"good, ""really""",pos,1\n\nbad,neg,2\r\n')
    assert read_table(f, ["label", "text"]) == {"label": ["pos", "neg"],
                                                "text": ['good, "really"', "bad"]}
    t = _write(tmp_path, "p.tsv", 'il a dit "oui"\the said "yes"\textra\nun\tone\n')
    assert delimiter_of(t) == "\t" and delimiter_of(f) == ","
    assert read_table(t, [0, 1], header=False) == {0: ['il a dit "oui"', "un"],
                                                   1: ['he said "yes"', "one"]}


@pytest.mark.parametrize("data, columns, header, match", [
    (b"", ["text"], True, r"empty file"),
    (b"text,label\n", ["text"], True, r"no data rows"),
    (b"text,label\nhi,a\n", ["body"], True, r"no column 'body'; its columns are 'text', 'label'"),
    (b"text,label\nhi,a\nh\xe9,b\n", ["text"], True, r"must be UTF-8: line 3"),
    (b"one\tun\ntwo un\n", [0, 1], False, r"line 2 has 1 field\(s\) where 2 are needed \(is a tab"),
])
def test_bad_files_are_refused_in_one_line_naming_the_line_or_columns(tmp_path, data, columns,
                                                                      header, match):
    f = _write(tmp_path, "f.tsv" if not header else "f.csv", data)
    with pytest.raises(ValueError, match=match) as e:
        read_table(f, columns, header=header, argument="csv")
    assert "\n" not in str(e.value) and str(f) in str(e.value)
    with pytest.raises(ValueError, match="readable"):
        read_table(tmp_path / "missing.csv", ["text"])
