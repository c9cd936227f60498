"""Reading the files a clerk imports: encodings Excel saves, line endings, bytes in no encoding."""

from __future__ import annotations

import io

from scoring.errors import Problem
from services.ingest import decode_lines, file_encoding, read_csv, read_jsonl

HEADER = "id,type,occurred_at,person,hours,description"


def csv_records(data: bytes) -> list[tuple[str, object]]:
    return list(read_csv(decode_lines(io.BytesIO(data))))


def test_a_gbk_file_is_read_as_gbk_even_where_a_short_line_would_pass_for_utf8() -> None:
    # "小" in GBK is D0 A1, which is also valid UTF-8 (a Cyrillic letter): the whole file decides.
    rows = [HEADER, "v1,volunteer_service,2026-03-01T10:00:00,P1,1,小", "v2,volunteer_service,2026-03-02T10:00:00,P2,2,敬老院帮厨"]
    data = "\r\n".join(rows).encode("gbk")
    assert file_encoding(data) == "gb18030"
    got = csv_records(data)
    assert [(ref, rec["description"]) for ref, rec in got] == [("#2", "小"), ("#3", "敬老院帮厨")]  # type: ignore[index]


def test_utf8_with_or_without_a_byte_order_mark_and_any_line_ending() -> None:
    for newline in ("\n", "\r\n", "\r"):  # \r: Excel for Mac's "CSV (Macintosh)"
        text = newline.join([HEADER, "v1,volunteer_service,2026-03-01T10:00:00,P1,1,清扫村道", ""])
        for data in (text.encode(), b"\xef\xbb\xbf" + text.encode()):
            got = csv_records(data)
            assert [(ref, rec["id"], rec["description"]) for ref, rec in got] == [("#2", "v1", "清扫村道")], (newline, data[:3])  # type: ignore[index]


def test_a_record_with_unreadable_bytes_is_refused_whole_and_named_by_its_excel_row() -> None:
    data = (HEADER + "\n").encode() + b'v1,volunteer_service,2026-03-01T10:00:00,P1,1,"line one\n\xff\xfe\nline three"\n' + \
        "v2,volunteer_service,2026-03-02T10:00:00,P2,2,好\n".encode()
    got = csv_records(data)
    assert [(ref, rec.code if isinstance(rec, Problem) else rec["id"]) for ref, rec in got] == [("#2", "bad_encoding"), ("#3", "v2")]


def test_an_unreadable_header_refuses_the_file_with_one_problem() -> None:
    data = b"id,type,\xff\xfe\nv1,volunteer_service\n"
    got = csv_records(data)
    assert len(got) == 1 and got[0][0] == "#1" and isinstance(got[0][1], Problem) and got[0][1].code == "bad_encoding"


def test_a_jsonl_line_with_unreadable_bytes_is_named_and_the_others_read() -> None:
    data = b'{"id": "a1"}\r\n\xff\xfe\r\n\r\n{"id": "a3"}'
    got = list(read_jsonl(decode_lines(io.BytesIO(data))))
    assert [(ref, rec.code if isinstance(rec, Problem) else rec["id"]) for ref, rec in got] == [("#1", "a1"), ("#2", "bad_encoding"), ("#4", "a3")]


def test_a_header_without_a_required_column_refuses_the_file_once_naming_it() -> None:
    data = b"id,occurred_at,person\nv1,2026-03-01T10:00:00,P1\nv2,2026-03-02T10:00:00,P2\n"
    got = csv_records(data)
    assert len(got) == 1 and got[0][0] == "#1"
    problem = got[0][1]
    assert isinstance(problem, Problem) and problem.code == "csv_missing_columns"
    assert problem.message("zh").startswith("表头缺少必填列 type,整个文件未导入")


def test_a_row_longer_than_the_header_is_refused_and_the_others_kept() -> None:
    data = (HEADER + "\n" + "v1,volunteer_service,2026-03-01T10:00:00,P1,1,好,extra,cols\n"
            + "v2,volunteer_service,2026-03-02T10:00:00,P2,2,好\n").encode()
    got = csv_records(data)
    assert [(ref, rec.code if isinstance(rec, Problem) else rec["id"]) for ref, rec in got] == [("#2", "csv_extra_values"), ("#3", "v2")]
    problem = got[0][1]
    assert isinstance(problem, Problem) and "多出 2 个值(extra, cols)" in problem.message("zh")
