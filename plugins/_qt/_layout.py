"""Layout helpers shared by the widgets: a scrolling dock body and the colour legend."""

from __future__ import annotations

from qtpy.QtCore import Qt
from qtpy.QtGui import QColor, QPainter, QPen
from qtpy.QtWidgets import (
    QComboBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLayout,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from spmito.plugins.review_table import LEGEND

#: Height below which a dock widget scrolls instead of growing the window.
DOCK_MIN_HEIGHT_PX = 120

#: Widest a dock asks to be: the canvas keeps the rest of a 1600 px screen.
DOCK_MAX_WIDTH_PX = 440


def scrollable(widget: QWidget, content: QWidget) -> QScrollArea:
    """Make ``content`` the body of ``widget`` inside a scroll area.

    Four docked spmito widgets then share the height of a 1600 x 1000 screen instead of
    growing the window past it: each scrolls when its dock is short.
    """
    for combo in content.findChildren(QComboBox):  # long names must not widen the dock
        combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        combo.setMinimumContentsLength(12)
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setWidget(content)
    scrollbar = area.verticalScrollBar().sizeHint().width()
    area.setMinimumWidth(min(content.minimumSizeHint().width() + scrollbar, DOCK_MAX_WIDTH_PX))
    layout = QVBoxLayout(widget)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(area)
    widget.setMinimumHeight(DOCK_MIN_HEIGHT_PX)
    return area


def button_row(*buttons: QWidget) -> QHBoxLayout:
    """The buttons side by side."""
    row = QHBoxLayout()
    for button in buttons:
        row.addWidget(button)
    return row


def dock_body(widget: QWidget, *items: QWidget | QLayout, stretch: bool = False
              ) -> QScrollArea:
    """Stack ``items`` (widgets or layouts) top to bottom as the :func:`scrollable` body."""
    content = QWidget()
    layout = QVBoxLayout(content)
    for item in items:
        if isinstance(item, QLayout):
            layout.addLayout(item)
        else:
            layout.addWidget(item)
    if stretch:
        layout.addStretch()
    return scrollable(widget, content)


class _Swatch(QWidget):
    """A small square filled with a colour, or outlined in it."""

    def __init__(self, colour: str, style: str):
        super().__init__()
        self.colour, self.style = QColor(colour), style
        self.setFixedSize(14, 14)

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt's name
        """Draw the square."""
        painter = QPainter(self)
        if self.style == "fill":
            painter.fillRect(self.rect(), self.colour)
        else:
            painter.fillRect(self.rect(), QColor("#202020"))
            painter.setPen(QPen(self.colour, 3))
            painter.drawRect(self.rect().adjusted(1, 1, -2, -2))
        painter.end()


class ColourLegend(QWidget):
    """What the colours of the cells and marks layers mean.

    See :data:`spmito.plugins.review.LEGEND`.
    """

    def __init__(self):
        super().__init__()
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(4)
        grid.setVerticalSpacing(2)
        self.entries = {}
        for number, (text, colour, style) in enumerate(LEGEND):
            row, column = divmod(number, 2)
            label = QLabel(text)
            label.setWordWrap(True)
            grid.addWidget(_Swatch(colour, style), row, 2 * column,
                           alignment=Qt.AlignmentFlag.AlignTop)
            grid.addWidget(label, row, 2 * column + 1)
            self.entries[text] = colour
        self.setToolTip("cell colours: filled by class; outlined: selected or deleted cells")
