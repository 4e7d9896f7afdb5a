"""The word matcher, the similarity grouping and the small rules they support."""

from __future__ import annotations

from canyu.consultations import sensitive, service, similarity
from canyu.consultations.sensitive import Matcher


def test_matcher_finds_every_word_in_one_pass_including_overlaps():
    m = Matcher(["he", "she", "his", "hers"])
    assert [(s, e, w) for s, e, w in m.find("ushers")] == [(1, 4, "she"), (2, 4, "he"), (2, 6, "hers")]


def test_matcher_handles_chinese_and_case():
    m = Matcher(["传销", "高利贷", "BoCai"])
    assert {w for _, _, w in m.find("小区有人搞传销和高利贷，还有bocai")} == {"传销", "高利贷", "bocai"}


def test_highlight_merges_overlapping_hits():
    assert sensitive.highlight("请勿参与传销活动") == [("请勿参与", False), ("传销", True), ("活动", False)]
    assert sensitive.highlight("没有问题") == [("没有问题", False)]


def test_word_list_file_is_loaded():
    assert "传销" in sensitive.matcher().words


def test_similar_questions_are_grouped():
    groups = similarity.group_similar([
        ("a", "加装电梯的补贴什么时候发放？"),
        ("b", "请问加装电梯补贴什么时候能发放"),
        ("c", "垃圾分类的投放点设在哪里"),
    ])
    assert [sorted(g.keys) for g in groups] == [["a", "b"]]


def test_draft_markdown_is_split_at_second_level_headings():
    preamble, sections = service.split_draft("导语\n\n## 第一条\n正文一\n## 第二条\n正文二")
    assert preamble == "导语"
    assert sections == [{"title": "第一条", "body": "正文一"}, {"title": "第二条", "body": "正文二"}]


def test_document_types_are_recognized_by_content():
    assert service.sniff_document(b"%PDF-1.7 ...")[1] == "pdf"
    assert service.sniff_document(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1rest")[1] == "doc"
    assert service.sniff_document(b"PK\x03\x04 not really a zip") is None
    assert service.sniff_document(b"MZ\x90\x00") is None
