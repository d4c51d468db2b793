"""bench/answer_eval.py's BBC judging: which answers --show-wrong lists, and which answers cite or state."""
from __future__ import annotations

from bench import answer_eval as E


def test_show_wrong_lists_only_the_questions_answered_at_the_threshold(capsys):
    b = {"asked": {"removed": ["How much did it cost?", "Who won?"], "unanswerable": ["When did it close?"]},
         "rows": {"removed": [(0.6, [("It cost £7.5bn.", "business/1")], ["£7.5bn"]),
                              (0.1, [("Nobody knows.", "sport/2")], ["Smith"])],
                  "unanswerable": [(0.4, [("It was busy.", "tech/3"), ("Sales rose.", "tech/4")], None)]}}
    E.show_wrong(b, 0.3)
    out = capsys.readouterr().out
    assert "0.60 How much did it cost? (holds an answer term)" in out
    assert "[business/1] It cost £7.5bn." in out
    assert "Who won?" not in out                       # declined at 0.3: not a wrong answer
    assert "0.40 When did it close?\n" in out           # no answer terms to hold
    assert "[tech/3] It was busy." in out and "[tech/4] Sales rose." in out


def test_a_bbc_answer_is_stated_only_when_it_cites_its_article_and_holds_an_answer_term():
    asked = ("business/038", ["1.4bn euros"])
    lede = [("Deutsche Telekom saw strong fourth quarter profits.", "business/038")]
    value = [("Net profit came in at 1.4bn euros.", "business/038")]
    elsewhere = [("Ericsson made 1.4bn euros.", "business/118")]
    assert E.bbc_cited(asked, lede) and not E.bbc_stated(asked, lede)
    assert E.bbc_cited(asked, value) and E.bbc_stated(asked, value)
    assert not E.bbc_cited(asked, elsewhere) and not E.bbc_stated(asked, elsewhere)


def test_outcomes_flag_each_question_at_the_threshold_and_share_gives_its_interval():
    rows = {"answerable": [(0.9, [("It cost £7.5bn.", "a")], "£7.5bn"), (0.5, [("Sales rose.", "b")], "£2bn"),
                           (0.2, [("It cost £2bn.", "c")], "£2bn")],
            "removed": [(0.6, [("Sales rose.", "b")], "£7.5bn"), (0.1, [], "£2bn")]}
    right, answered, declined = E.outcomes(rows, E.squad_right, 0.4)
    assert right == [True, False, False] and answered == [True, True, False] and declined == [False, True]
    assert [round(x, 3) for x in E.sweep(rows, E.squad_right, [0.4])[0]] == [0.4, 0.333, 0.667, 0.5]
    assert E.share(declined) == "0.500 (0.095-0.905 of 2)"      # two questions say next to nothing
    assert E.share([]) == "- (of 0)"
    assert E.share([True] * 169 + [False] * 31).startswith("0.845 (0.788-0.889 of 200)")


def test_an_offset_sample_follows_the_reported_one_and_a_reordering_size_is_refused():
    import random

    import pytest

    qs = list(range(9702))           # the held-out fold's size
    reported = E.seeded_sample(qs, random.Random(E.SEED), 200)
    fresh = E.seeded_sample(qs, random.Random(E.SEED), 600, 600)
    assert len(fresh) == 600 and not set(reported) & set(fresh)
    assert E.seeded_sample(qs, random.Random(E.SEED), 400, 200) == E.seeded_sample(qs, random.Random(E.SEED), 600)[200:]
    with pytest.raises(SystemExit, match="questions 600-1599 of the seeded order"):
        E.seeded_sample(qs, random.Random(E.SEED), 1000, 600)
    with pytest.raises(SystemExit, match="--offset 9702: the held-out fold has 9702 questions"):
        E.seeded_sample(qs, random.Random(E.SEED), 10, 9702)
