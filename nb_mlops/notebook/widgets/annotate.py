"""AnnotatorWidget: a rater labels a task's items one at a time, with the mouse or the keyboard.

One item is shown: its prompt (and context, folded), then the response and a row of value
buttons per criterion (rating), or two responses side by side with "A is better", "Tie",
"B is better" (pairwise; which response is on which side comes from `task.sides`, so a resumed
session shows the same layout, and the shown order is stored with the label). Submit, Skip and
Back (to correct the item before); the progress; the time from showing an item to its label.
Every label goes to the task at once (`task.record`), so a restarted kernel resumes at the
first item this rater has not labelled.

Keys: ipywidgets have no key events. Buttons carry classes `nbm-key-<key>` and the front-end
extension (labextension/src/keys.ts) clicks the button of the key pressed while the widget has
the focus, before the notebook's shortcuts see it. Digit keys rate the *active* criterion (the
marked row): only its buttons carry the digit classes, and a value moves the mark to the next
criterion. Without the extension the buttons work with the mouse. `press(key)` does from Python
what a key does in the browser.
"""

from __future__ import annotations

import html
import time
from typing import Any

import ipywidgets as widgets

from nb_mlops.evals.model import EvalError
from nb_mlops.notebook.widgets.render import StaticFallback

ROOT_CLASS = "nbm-annotator"
KEY_CLASS = "nbm-key-"
ACTIVE_CLASS = "nbm-active"
SELECTED_CLASS = "nbm-selected"
SELECTED_STYLE = "info"  # a chosen value: a filled button, readable without our CSS
RESPONSE_HEIGHT = "22em"  # a longer response scrolls inside its box

PAIR_CHOICES = (("left", "A is better", "a"), ("tie", "Tie", "t"), ("right", "B is better", "b"))
"""Pairwise buttons: screen side (A is the left response), label, key."""


def value_keys(scale: list[Any]) -> list[str | None]:
    """The key of each scale value: the value itself when every value is a single digit
    (a 1-5 scale answers to 1..5, a 0-4 scale to 0..4), else its position 1..9 (later values
    have no key)."""
    if all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 9 for v in scale):
        if len(set(scale)) == len(scale):
            return [str(v) for v in scale]
    return [str(i + 1) if i < 9 else None for i in range(len(scale))]


def scroll_box(text: str, label: str | None = None) -> str:
    """Escaped text in a box that keeps line breaks and scrolls when long."""
    head = (
        f"<div style='font-weight:bold;margin-bottom:2px'>{html.escape(label)}</div>"
        if label
        else ""
    )
    body = (
        f"<div class='nbm-annotator-text' style='max-height:{RESPONSE_HEIGHT};overflow:auto;"
        "white-space:pre-wrap;word-break:break-word;padding:6px 8px;"
        "border:1px solid var(--jp-border-color2, #ccc);border-radius:3px'>"
        f"{html.escape(text)}</div>"
    )
    return head + body


def classes(widget: widgets.Widget) -> tuple[str, ...]:
    """The CSS classes a widget's view carries (what `add_class` set)."""
    return tuple(widget.get_state("_dom_classes")["_dom_classes"])


class CriterionRow(widgets.HBox):
    """One criterion: its name (pressing it makes the row active) and a button per value."""

    def __init__(self, criterion: Any, on_value: Any, on_activate: Any) -> None:
        self.criterion = criterion
        self.scale = list(criterion.scale)
        self.key_names = value_keys(self.scale)
        tip = criterion.description or criterion.name
        self.name_button = widgets.Button(
            description=criterion.name, tooltip=tip, layout=widgets.Layout(width="10em")
        )
        self.name_button.add_class("nbm-annotator-criterion-name")
        self.name_button.on_click(lambda _: on_activate(self))
        self.buttons: list[widgets.Button] = []
        for value, key in zip(self.scale, self.key_names, strict=True):
            button = widgets.Button(
                description=str(value),
                tooltip=f"{criterion.name} = {value}" + (f" (key {key})" if key else ""),
                layout=widgets.Layout(width="auto", min_width="2.6em"),
            )
            button.add_class("nbm-annotator-value")
            button.on_click(lambda _, v=value: on_value(self, v))
            self.buttons.append(button)
        super().__init__([self.name_button, *self.buttons])
        self.add_class("nbm-annotator-criterion")
        self.value: Any = None
        self.active = False

    def show_value(self, value: Any) -> None:
        """Mark `value` chosen (None: nothing chosen)."""
        self.value = value
        for v, button in zip(self.scale, self.buttons, strict=True):
            chosen = value is not None and v == value
            button.button_style = SELECTED_STYLE if chosen else ""
            (button.add_class if chosen else button.remove_class)(SELECTED_CLASS)

    def set_active(self, active: bool) -> None:
        """The active row answers the digit keys: only its buttons carry their classes."""
        self.active = active
        (self.add_class if active else self.remove_class)(ACTIVE_CLASS)
        mark = "▸ " if active else ""
        self.name_button.description = mark + self.criterion.name
        for key, button in zip(self.key_names, self.buttons, strict=True):
            if key is not None:
                (button.add_class if active else button.remove_class)(KEY_CLASS + key)


class AnnotatorWidget(StaticFallback, widgets.VBox):
    """Label an AnnotationSession's items one at a time (rating or pairwise)."""

    clock = staticmethod(time.monotonic)
    """Seconds on an item are measured with this clock, from showing it to its label."""

    def __init__(self, session: Any, **kwargs: Any) -> None:
        self.session = session
        self.fallback = session
        self.task = session.task
        self.rater = session.rater
        self.order = [str(item["id"]) for item in self.task.items]
        self.by_id = {str(item["id"]): item for item in self.task.items}
        self.pairwise = self.task.mode == "pairwise"
        self.item_id: str | None = None
        self.sides: tuple[str, str] | None = None
        self.shown_at = self.clock()

        self.header = widgets.HTML()
        self.bar = widgets.IntProgress(min=0, max=max(1, len(self.order)), value=0)
        self.bar.layout = widgets.Layout(width="14em", margin="0 12px")
        self.counts = widgets.HTML()
        self.prompt = widgets.HTML()
        self.prompt.add_class("nbm-annotator-prompt")
        self.note = widgets.HTML()
        self.note.add_class("nbm-annotator-note")
        self.response = widgets.HTML(layout=widgets.Layout(width="100%"))
        self.response.add_class("nbm-annotator-response")
        self.left = widgets.HTML(layout=widgets.Layout(width="50%", margin="0 6px 0 0"))
        self.right = widgets.HTML(layout=widgets.Layout(width="50%", margin="0 0 0 6px"))
        self.left.add_class("nbm-annotator-side-a")
        self.right.add_class("nbm-annotator-side-b")
        self.rows: list[CriterionRow] = []
        self.pair_buttons: dict[str, widgets.Button] = {}
        self.back_button = widgets.Button(description="◀ Back", tooltip="previous item (key ←)")
        self.skip_button = widgets.Button(description="Skip", tooltip="skip this item (key S)")
        self.submit_button = widgets.Button(
            description="Submit ▶", tooltip="save and go on (key Enter)", button_style="primary"
        )
        self.back_button.add_class(KEY_CLASS + "arrowleft")
        self.skip_button.add_class(KEY_CLASS + "s")
        self.submit_button.add_class(KEY_CLASS + "enter")
        self.back_button.on_click(lambda _: self.back())
        self.skip_button.on_click(lambda _: self.skip())
        self.submit_button.on_click(lambda _: self.submit())
        self.legend = widgets.HTML()
        self.legend.add_class("nbm-annotator-legend")
        self.message = widgets.HTML()
        self.done = widgets.HTML()
        self.done.add_class("nbm-annotator-done")

        if self.pairwise:
            answer: list[Any] = [self._pair_row()]
            shown: widgets.Widget = widgets.HBox(
                [self.left, self.right], layout=widgets.Layout(width="100%")
            )
        else:
            for criterion in self.task.criteria:
                row = CriterionRow(criterion, self._on_value, self._on_activate)
                self.rows.append(row)
            answer = list(self.rows)
            shown = self.response
        self.item_box = widgets.VBox([self.note, self.prompt, shown, *answer])
        nav = widgets.HBox([self.back_button, self.skip_button, self.submit_button])
        top = widgets.HBox([self.header, self.bar, self.counts])
        super().__init__([top, self.item_box, self.done, nav, self.legend, self.message], **kwargs)
        self.add_class(ROOT_CLASS)
        self.legend.value = self._legend()
        self.show(self._first_item())

    # ------------------------------------------------------------------ layout pieces
    def _pair_row(self) -> widgets.HBox:
        for side, label, key in PAIR_CHOICES:
            button = widgets.Button(
                description=label, tooltip=f"key {key.upper()}", layout=widgets.Layout(width="32%")
            )
            button.add_class(KEY_CLASS + key)
            button.add_class("nbm-annotator-choice")
            button.on_click(lambda _, s=side: self.choose_side(s))
            self.pair_buttons[side] = button
        row = widgets.HBox(
            list(self.pair_buttons.values()),
            layout=widgets.Layout(width="100%", justify_content="space-between"),
        )
        row.add_class("nbm-annotator-pair")
        return row

    def _legend(self) -> str:
        if self.pairwise:
            keys = "A left better · B right better · T tie"
        else:
            first = [k for k in self.rows[0].key_names if k] if self.rows else []
            span = f"{first[0]}-{first[-1]}" if len(first) > 1 else "".join(first)
            keys = f"{span} rate the marked criterion · Enter submit"
        return f"<span>keys (click the item first): {html.escape(keys)} · S skip · ← back</span>"

    # ------------------------------------------------------------------ navigation
    def _labels(self) -> dict[str, Any]:
        """This rater's latest label per item, skips included."""
        return self.task.effective(self.rater)

    def _first_item(self) -> str | None:
        found = self.task.next_item(self.rater)
        return None if found is None else str(found)

    def _after(self, item_id: str) -> str | None:
        """The next item with no label after `item_id` (wrapping), else the task's next."""
        labels = self._labels()
        start = self.order.index(item_id) + 1 if item_id in self.order else 0
        for candidate in self.order[start:] + self.order[:start]:
            if candidate not in labels:
                return candidate
        return self._first_item()

    def _previous(self) -> str | None:
        if self.item_id is None:
            return self.order[-1] if self.order else None
        at = self.order.index(self.item_id)
        return self.order[at - 1] if at > 0 else None

    def show(self, item_id: str | None) -> None:
        """Show an item (None: the task is done for this rater); its clock starts now."""
        self.item_id = item_id
        self.shown_at = self.clock()
        labels = self._labels()
        self._update_progress(labels)
        self.back_button.disabled = self._previous() is None
        if item_id is None:
            self._show_done(labels)
            return
        self.item_box.layout.display = None
        self.done.layout.display = "none"
        self.skip_button.disabled = False
        self.skip_button.layout.display = None
        item = self.by_id[item_id]
        self.prompt.value = self._prompt_html(item)
        earlier = labels.get(item_id)
        self.note.value = self._note(earlier)
        if self.pairwise:
            self._show_pair(item, earlier)
        else:
            self._show_rating(item, earlier)

    def _note(self, earlier: Any) -> str:
        """What the rater did with this item before (they came back to it)."""
        if earlier is None:
            return ""
        if earlier.skipped:
            text = "you skipped this item: label it now, or skip it again"
        else:
            again = "choosing" if self.pairwise else "submitting"
            text = f"you labelled this item (your answer is selected): {again} replaces it"
        return f"<i>{html.escape(text)}</i>"

    def _prompt_html(self, item: dict[str, Any]) -> str:
        parts = [scroll_box(str(item.get("prompt", "")), "Prompt")]
        context = item.get("context")
        if context:
            parts.append(f"<details><summary>context</summary>{scroll_box(str(context))}</details>")
        return "".join(parts)

    def _show_rating(self, item: dict[str, Any], earlier: Any) -> None:
        self.response.value = scroll_box(str(item.get("response", "")), "Response")
        values = dict(earlier.values) if earlier is not None and not earlier.skipped else {}
        for row in self.rows:
            row.show_value(values.get(row.criterion.name))
        unset = [i for i, row in enumerate(self.rows) if row.value is None]
        self._activate(unset[0] if unset else 0)
        self._update_submit()

    def _show_pair(self, item: dict[str, Any], earlier: Any) -> None:
        assert self.item_id is not None
        left, right = self.task.sides(self.item_id, self.rater)
        self.sides = (left, right)
        self.left.value = scroll_box(str(item.get(f"response_{left}", "")), "A")
        self.right.value = scroll_box(str(item.get(f"response_{right}", "")), "B")
        choice = None
        if earlier is not None and not earlier.skipped:
            choice = earlier.values.get("choice")
        chosen = {left: "left", right: "right", "tie": "tie"}.get(choice) if choice else None
        for side, button in self.pair_buttons.items():
            button.button_style = SELECTED_STYLE if side == chosen else ""
        self.submit_button.disabled = True  # a choice saves at once
        self.submit_button.layout.display = "none"

    def _show_done(self, labels: dict[str, Any]) -> None:
        self.item_box.layout.display = "none"
        self.done.layout.display = None
        for button in (self.skip_button, self.submit_button):
            button.disabled = True
            button.layout.display = "none"
        total = len(self.order)
        skipped = sum(1 for label in labels.values() if label.skipped)
        if skipped:
            head = f"all {total} items done: {total - skipped} labelled, {skipped} skipped"
        else:
            head = f"all {total} items labelled"
        try:
            summary = self.session.to_html()
        except Exception as exc:  # the summary is a courtesy: the labels are saved
            summary = f"<i>{html.escape(f'no summary: {exc}')}</i>"
        self.done.value = (
            f"<div style='font-weight:bold;margin:6px 0'>{html.escape(head)}</div>{summary}"
        )

    def _update_progress(self, labels: dict[str, Any]) -> None:
        total = len(self.order)
        skipped = sum(1 for label in labels.values() if label.skipped)
        labelled = len(labels) - skipped
        self.bar.max = max(1, total)
        self.bar.value = min(len(labels), total)
        where = (
            f"item {self.order.index(self.item_id) + 1} of {total}"
            if self.item_id is not None
            else f"{total} items"
        )
        text = f"{where} · {labelled} labelled · {skipped} skipped"
        self.counts.value = f"<span class='nbm-annotator-progress'>{html.escape(text)}</span>"
        self.header.value = (
            f"<b>{html.escape(str(self.task.name))}</b> · {html.escape(self.task.mode)} · "
            f"rater <b class='nbm-annotator-rater'>{html.escape(str(self.rater))}</b>"
        )

    # ------------------------------------------------------------------ rating
    def _activate(self, index: int) -> None:
        for i, row in enumerate(self.rows):
            row.set_active(i == index)

    @property
    def active(self) -> int | None:
        """Index of the criterion the digit keys rate (None: pairwise, or no criteria)."""
        for i, row in enumerate(self.rows):
            if row.active:
                return i
        return None

    def _on_activate(self, row: CriterionRow) -> None:
        self._activate(self.rows.index(row))

    def _on_value(self, row: CriterionRow, value: Any) -> None:
        self.choose(row.criterion.name, value)

    def choose(self, criterion: str, value: Any) -> None:
        """Set a criterion's value; the mark moves to the next criterion with no value."""
        if self.item_id is None:
            return
        names = [row.criterion.name for row in self.rows]
        if criterion not in names:
            known = ", ".join(names)
            raise EvalError(f"task {self.task.name!r} has no criterion {criterion!r} ({known})")
        index = names.index(criterion)
        row = self.rows[index]
        row.show_value(row.criterion.value(value))
        after = [i for i in range(index + 1, len(self.rows)) if self.rows[i].value is None]
        before = [i for i in range(index) if self.rows[i].value is None]
        following = index + 1 if index + 1 < len(self.rows) else index
        self._activate((after or before or [following])[0])
        self._update_submit()

    def _update_submit(self) -> None:
        self.submit_button.layout.display = None
        self.submit_button.disabled = any(row.value is None for row in self.rows)

    @property
    def values(self) -> dict[str, Any]:
        """The values chosen so far for the item shown (rating)."""
        return {row.criterion.name: row.value for row in self.rows if row.value is not None}

    # ------------------------------------------------------------------ saving
    def _elapsed(self) -> float:
        return max(self.clock() - self.shown_at, 0.0)

    def _record(self, values: dict[str, Any], *, skipped: bool = False) -> bool:
        assert self.item_id is not None
        shown = self.sides if self.pairwise else None
        try:
            self.task.record(
                self.rater,
                self.item_id,
                values,
                shown=shown,
                seconds=self._elapsed(),
                skipped=skipped,
            )
        except EvalError as exc:
            self.message.value = f"<span style='color:#c62828'>{html.escape(str(exc))}</span>"
            return False
        self.message.value = ""
        return True

    def submit(self) -> None:
        """Save the values of the item shown and go to the next item with no label."""
        if self.item_id is None or self.pairwise or any(r.value is None for r in self.rows):
            return
        current = self.item_id
        if self._record(self.values):
            self.show(self._after(current))

    def skip(self) -> None:
        """Mark the item shown skipped and go on."""
        if self.item_id is None:
            return
        current = self.item_id
        if self._record({}, skipped=True):
            self.show(self._after(current))

    def choose_side(self, side: str) -> None:
        """Pairwise: "left" (A is better), "right" (B is better) or "tie"; saved at once, in
        terms of the underlying responses (the screen side mapped through `task.sides`)."""
        if self.item_id is None or not self.pairwise or self.sides is None:
            return
        if side not in ("left", "right", "tie"):
            raise EvalError(f"side is left, right or tie, not {side!r}")
        choice = {"left": self.sides[0], "right": self.sides[1], "tie": "tie"}[side]
        current = self.item_id
        if self._record({"choice": choice}):
            self.show(self._after(current))

    def back(self) -> None:
        """Show the item before the one shown (its saved values pre-selected) to correct it."""
        previous = self._previous()
        if previous is not None:
            self.show(previous)

    # ------------------------------------------------------------------ keys from Python
    def key_buttons(self, key: str) -> list[widgets.Button]:
        """The shown, enabled buttons bound to `key` (what keys.ts would click, first one)."""
        found = []
        boxes: list[widgets.Widget] = [self]
        while boxes:
            box = boxes.pop(0)
            if getattr(box.layout, "display", None) == "none":
                continue
            if isinstance(box, widgets.Button):
                if KEY_CLASS + key.lower() in classes(box) and not box.disabled:
                    found.append(box)
            boxes.extend(getattr(box, "children", ()))
        return found

    def press(self, key: str) -> bool:
        """Do what pressing `key` does in the browser; False when no button answers it."""
        found = self.key_buttons(key)
        if found:
            found[0].click()
        return bool(found)
