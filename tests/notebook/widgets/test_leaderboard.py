"""LeaderboardWidget: arena ratings as a table, an interval chart and a win-rate heatmap."""

from __future__ import annotations

import html

import pytest
from conftest import sanitized

from nb_mlops.evals.arena import bradley_terry, elo
from nb_mlops.notebook.widgets.chart import CHART_MIME, VIEW_MIME
from nb_mlops.notebook.widgets.leaderboard import (
    CHART_MODELS,
    HEATMAP_MODELS,
    LeaderboardWidget,
    interval_svg,
)
from nb_mlops.notebook.widgets.render import DOMAIN_TYPES, domain_bundle

EVIL = "<img src=x onerror=alert(1)>"


def battle(a: str, b: str, winner: str) -> dict[str, str]:
    return {"model_a": a, "model_b": b, "winner": winner}


@pytest.fixture
def ratings():
    battles = [battle("alpha", "beta", "model_a")] * 6 + [battle("beta", "alpha", "model_a")] * 2
    battles += [battle("beta", EVIL, "model_a")] * 5 + [battle(EVIL, "beta", "tie")] * 2
    battles += [battle("alpha", EVIL, "model_a")] * 3 + [battle(EVIL, "alpha", "model_a")]
    return bradley_terry(battles, bootstrap=200)


def chart_names(chart) -> list[str]:
    return chart.spec["data"][0]["y"]


def test_the_widget_shows_table_intervals_and_heatmap(ratings):
    widget = LeaderboardWidget(ratings)
    assert "nbm-leaderboard-widget" in widget._dom_classes
    assert widget.children == (widget.order, widget.table, widget.intervals, widget.heatmap)
    assert widget.table.value == ratings.table_html("rating")
    assert EVIL not in widget.table.value and html.escape(EVIL) in widget.table.value

    points = widget.intervals.spec["data"][0]
    assert chart_names(widget.intervals) == ["alpha", "beta", html.escape(EVIL)]
    assert points["x"] == pytest.approx(ratings.ratings.tolist(), abs=0.01)  # 6 digits
    high = ratings.intervals["high"] - ratings.ratings
    low = ratings.ratings - ratings.intervals["low"]
    assert points["error_x"]["array"] == pytest.approx(high.tolist(), abs=0.01)
    assert points["error_x"]["arrayminus"] == pytest.approx(low.tolist(), abs=0.01)

    heat = widget.heatmap.spec["data"][0]
    assert heat["type"] == "heatmap" and heat["x"] == heat["y"] == points["y"]
    assert heat["z"][0][0] is None  # a model never meets itself
    assert heat["z"][0][1] == pytest.approx(6 / 8, abs=1e-3)  # alpha over beta
    assert heat["z"][1][2] == pytest.approx(6 / 7, abs=1e-3)  # beta over EVIL, a tie half

    # every chart travels under our mime with an escaped static form
    for chart in (widget.intervals, widget.heatmap):
        (out,) = chart.outputs
        assert CHART_MIME in out["data"]
        assert EVIL not in out["data"]["text/html"]


def test_the_toggle_orders_everything_by_name(ratings):
    widget = LeaderboardWidget(ratings)
    widget.order.value = "name"
    escaped = html.escape(EVIL)
    assert chart_names(widget.intervals) == [escaped, "alpha", "beta"]
    assert widget.heatmap.spec["data"][0]["y"] == [escaped, "alpha", "beta"]
    table = widget.table.value
    assert table.index(escaped) < table.index("alpha") < table.index("beta")
    widget.order.value = "rating"
    assert chart_names(widget.intervals) == ["alpha", "beta", escaped]


def test_the_bundle_carries_the_view_and_the_escaped_static_leaderboard(ratings):
    bundle = LeaderboardWidget(ratings)._repr_mimebundle_()
    assert VIEW_MIME in bundle and CHART_MIME not in bundle
    assert bundle["text/html"] == ratings.to_html()
    assert bundle["text/plain"] == ratings.to_text()
    assert EVIL not in bundle["text/html"]
    visible = sanitized(bundle["text/html"])
    assert "Bradley-Terry maximum likelihood" in visible
    assert EVIL in visible  # shown as text, never as markup
    assert "observed win rate of the row model" in visible


def test_elo_without_intervals_draws_points_only():
    result = elo([battle("a", "b", "model_a"), battle("b", "c", "tie")])
    widget = LeaderboardWidget(result)
    assert "error_x" not in widget.intervals.spec["data"][0]
    assert widget.intervals.text == "ratings of 3 models"
    assert "<line" not in widget.intervals.outputs[0]["data"]["text/html"]


def test_charts_carry_only_the_best_models():
    count = 60
    battles = [
        battle(f"m{i:02d}", f"m{j:02d}", "model_a" if i < j else "tie")
        for i in range(count)
        for j in range(i + 1, min(count, i + 4))
    ]
    result = elo(battles)
    widget = LeaderboardWidget(result)
    assert len(widget.intervals.spec["data"][0]["y"]) == CHART_MODELS
    assert widget.intervals.text == f"ratings of the best {CHART_MODELS} of {count} models"
    heat = widget.heatmap.spec["data"][0]
    assert len(heat["z"]) == HEATMAP_MODELS and len(heat["z"][0]) == HEATMAP_MODELS
    assert "texttemplate" not in heat  # too many cells to print
    assert heat["y"] == result.models[:HEATMAP_MODELS]


def test_the_interval_svg_escapes_and_spans_the_intervals():
    svg = interval_svg([EVIL, "b"], [1010.0, 990.0], [950.0, 900.0], [1100.0, 1050.0])
    assert EVIL not in svg and html.escape(EVIL) in svg
    assert svg.count("<line") == 2 and svg.count("<circle") == 2
    assert ">900<" in svg and ">1100<" in svg  # the axis spans the widest interval


def test_domain_results_show_as_the_widget(ratings):
    assert DOMAIN_TYPES[("nb_mlops.evals.arena", "ArenaRatings")] == "_leaderboard_widget"
    bundle = domain_bundle(ratings)
    assert VIEW_MIME in bundle and bundle["text/html"] == ratings.to_html()
