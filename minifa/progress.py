"""A live progress line for long epochs: ``epoch 3/10  step 512/937  ETA 0:04``.

Shown on stderr only when stderr is a terminal, rewritten in place (a carriage
return, no newline) and erased before the epoch's row is printed, so logs,
CSVs and the returned history never hold any of it. It reads the wall clock
alone, never the device: on a GPU the host runs ahead of the queued work, so
the first estimates of an epoch can be short.
"""

import sys
import time

DELAY = 1.0  # seconds into an epoch before the line appears: short epochs show none
EVERY = 0.5  # seconds between two rewrites of the line


class Progress:
    """The line for one ``train`` call; ``stream`` defaults to the stderr of the moment."""

    def __init__(self, epochs, steps, stream=None, clock=time.monotonic):
        self.stream = sys.stderr if stream is None else stream
        self.live = is_terminal(self.stream)
        self.epochs, self.steps, self.clock = epochs, steps, clock
        self.width = 0  # characters on the terminal now

    def start(self, epoch, first_step):
        """The epoch's steps after ``first_step`` start now."""
        self.epoch, self.first_step = epoch, first_step
        self.began = self.clock()
        self.due = self.began + DELAY

    def update(self, step):
        """``step`` (counted from 1) has finished; rewrite the line if it is due."""
        if not self.live:
            return
        now = self.clock()
        if now < self.due:
            return
        self.due = now + EVERY
        rate = (now - self.began) / (step - self.first_step)  # seconds per step
        self.write(f"epoch {self.epoch}/{self.epochs}  step {step}/{self.steps}  "
                   f"ETA {clock_time(rate * (self.steps - step))}")

    def clear(self):
        """Erase the line, if one is shown."""
        if self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.stream.flush()
            self.width = 0

    def write(self, text):
        self.stream.write("\r" + text + " " * max(0, self.width - len(text)))
        self.stream.flush()
        self.width = max(self.width, len(text))


def clock_time(seconds):
    """``m:ss``, or ``h:mm:ss`` from an hour on."""
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def is_terminal(stream):
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed file
        return False
