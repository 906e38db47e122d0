"""Progress of long library work, without a user-interface dependency.

A *bar factory* is a callable `(length, label) -> context manager` whose value has `update(n)`; library functions
that take a while accept one (`bar=None`) and report through it. `quiet_bar` (the default) shows nothing; the command
line passes click's progress bar (`linkgan_plugin.cli.options.progress_bar`), and tests may pass a recorder.

    with open_bar(bar, len(jobs), 'runs') as b:
        for job in jobs:
            run(job)
            b.update(1)
"""

#----------------------------------------------------------------------------

class QuietBar:
    """A progress bar that shows nothing."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, n):
        pass


def quiet_bar(length, label):
    """The bar factory that shows nothing."""
    return QuietBar()


def open_bar(factory, length, label):
    """factory(length, label), or a QuietBar when `factory` is None."""
    return (factory or quiet_bar)(length, label)

#----------------------------------------------------------------------------
