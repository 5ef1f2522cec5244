"""`flask --app app check-indexes`: every hot-path query uses an index on a real MongoDB."""

import os

import pytest

from elako import indexes


def test_plan_stages_are_read_through_the_whole_tree():
    plan = {"stage": "FETCH", "inputStage": {"stage": "OR", "inputStages": [
        {"stage": "IXSCAN"}, {"stage": "SORT", "inputStage": {"stage": "COLLSCAN"}}]}}
    assert indexes.stages(plan) == ["FETCH", "OR", "IXSCAN", "SORT", "COLLSCAN"]
    # MongoDB 7+ nests the plan under queryPlan when the slot-based engine runs it.
    assert indexes.winning_plan({"queryPlanner": {"winningPlan": {"queryPlan": plan}}}) == plan


def test_every_hot_query_is_explained(app):
    names = [name for name, _ in indexes.hot_queries()]
    assert len(names) == len(set(names)) >= 10


def test_without_mongodb_it_says_what_it_needs(app):
    if app.config.get("MONGODB_URI"):
        pytest.skip("MONGODB_URI is set: the real check runs below")
    result = app.test_cli_runner().invoke(args=["check-indexes"])
    assert result.exit_code != 0 and "MONGODB_URI" in result.output


@pytest.mark.skipif(not os.environ.get("MONGODB_URI"), reason="needs a real MongoDB")
def test_no_hot_query_scans_a_collection_on_real_mongodb(app):
    result = app.test_cli_runner().invoke(args=["check-indexes"])
    assert result.exit_code == 0, result.output
