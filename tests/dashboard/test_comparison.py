from recommender.dashboard.comparison import RankMark, rank_marks


def test_rank_marks_say_what_is_new_and_what_moved():
    a = ["x", "y", "z", "w"]
    b = ["y", "x", "q", "w"]
    assert rank_marks(b, a) == {"y": RankMark("up", 1), "x": RankMark("down", 1), "q": RankMark("only"),
                                "w": RankMark("same")}
    assert [m.text for m in rank_marks(b, a).values()] == ["↑ 1", "↓ 1", "only here", ""]
    assert rank_marks([], a) == {}
