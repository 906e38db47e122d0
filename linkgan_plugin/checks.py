"""Validators and error texts shared by the spec, the regions and every command: the limits on what a spec may
hold, the project's errors (`SpecError`: every problem with its JSON path; `OptionError`: one bad option or argument,
named; `UsageProblem`: options that do not go together; `LinkganError`: anything else a user can mend;
`LinkganWarning`), option validators (`Number` and `Integer`, both `Bounded`;
`Boolean`, `Choice`, `Subset`) and `check_argument` for function arguments, short renderings of bad values, and
file checks (`file_problem`, `file_kind`, `read_mask`).

Nothing here knows what a link is: `spec.py` declares the options and parses specs with these parts.
"""

import functools
import math
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from PIL import Image

#----------------------------------------------------------------------------
# Limits: what lies beyond them is refused before it is expanded or converted.

MAX_W_DIM = 1 << 16             # Axis indices lie below w_dim, or below this when w_dim is not known.
MAX_BOXES = 256                 # Boxes per region (for finer shapes, use a mask image).
MAX_NAME = 64                   # Characters in a link name.
MAX_INT = 2**31 - 1             # Integer options and class ids.
MAX_SPEC_BYTES = 16 << 20       # Size of a spec file.
MAX_ERRORS = 50                 # Problems listed in one SpecError.

#----------------------------------------------------------------------------
# Errors.

def short_repr(value, items=4, chars=60, depth=2):
    """repr(value), cut to fit in an error message: lists and dicts show their first `items` entries and their
    length, strings their first `chars` characters, huge integers their number of digits."""
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return repr(value)
    if isinstance(value, int):
        return repr(value) if value.bit_length() <= 64 else f'<an integer of about {int(value.bit_length() * 0.30103) + 1} digits>'
    if isinstance(value, (list, tuple, dict)):
        if depth <= 0:
            return '[...]' if isinstance(value, (list, tuple)) else '{...}'
        parts = [f'{short_repr(k, items, chars, 0)}: {short_repr(v, items, chars, depth - 1)}' for k, v in list(value.items())[:items]] \
            if isinstance(value, dict) else [short_repr(v, items, chars, depth - 1) for v in value[:items]]
        if len(value) > items:
            parts.append(f'... ({len(value)} items)')
        open_, close = ('{', '}') if isinstance(value, dict) else ('[', ']')
        return open_ + ', '.join(parts) + close
    return short_text(repr(value), chars)


def short_text(text, chars=200):
    """`text` cut to `chars` characters, saying how long it was."""
    return text if len(text) <= chars else f'{text[:chars]}... ({len(text)} characters)'


class LinkganError(Exception):
    """A problem a user can mend that belongs to no single option (a file that does not load, a run that failed).
    The command line prints its message without a traceback."""


class OptionError(LinkganError, ValueError):
    """A bad value of one option or function argument. `option` names it as the command line does ('--ws', or an
    argument's name for the Python API), `message` says what is wrong; str() is '<option>: <message>'."""

    def __init__(self, option, message):
        self.option, self.message = option, message
        super().__init__(f'{option}: {message}')


class UsageProblem(LinkganError, ValueError):
    """Options or arguments that do not go together (each may be fine alone)."""


class LinkganWarning(UserWarning):
    """Something a user should know that does not stop the work (codes made for another network, a method skipped).
    Library code warns with `warnings.warn(message, LinkganWarning)`; the command line prints 'warning: <message>'."""


class SpecError(LinkganError, ValueError):
    """A spec that cannot be used. `errors` lists one 'path: message' string per problem (at most MAX_ERRORS,
    then one line saying how many more there were)."""

    def __init__(self, errors):
        errors = list(errors)
        if len(errors) > MAX_ERRORS:
            errors = errors[:MAX_ERRORS] + [f'... and {len(errors) - MAX_ERRORS} more problems']
        self.errors = errors
        super().__init__('invalid link spec:\n' + '\n'.join(f'  {e}' for e in self.errors))


class Problems:
    def __init__(self):
        self.items = []

    def add(self, path, message):
        self.items.append(f'{path}: {message}')

    def raise_if_any(self):
        if self.items:
            raise SpecError(self.items)


def key_path(key, parent=''):
    """The JSON path of `key` under `parent`, with an odd or overlong key shown short."""
    name = key if isinstance(key, str) and re.fullmatch(r'[A-Za-z0-9_]{1,40}', key) else short_repr(key, chars=40)
    return f'{parent}.{name}' if parent else name

#----------------------------------------------------------------------------
# Option validators: each turns a JSON value into the option's value or raises Invalid; `describe` is the type
# column of the options table.

class Invalid(ValueError):
    """A value a validator refuses; the message completes '<json path>: '."""


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def finite_float(value):
    """float(value) of a JSON number, or Invalid for non-numbers, NaN, +-Infinity and integers beyond a float."""
    if not is_number(value):
        raise Invalid(f'must be a number, got {short_repr(value)}')
    try:
        number = float(value)
    except OverflowError:
        raise Invalid(f'must be a finite number, got {short_repr(value)} (too large for a float)') from None
    if not math.isfinite(number):
        raise Invalid(f'must be a finite number, got {number}')
    return number


class Bounded:
    """What Number and Integer share: `convert` the JSON value, then check it against the lower bound (`minimum`,
    itself refused when `strict`) and `maximum` (None: none)."""
    kind = minimum = maximum = None
    strict = False

    @property
    def lowest(self):
        return f'{">" if self.strict else ">="} {self.minimum}'

    @property
    def describe(self):
        return f'{self.kind} {self.lowest}'

    @property
    def too_low(self):
        """What a value below the bound must be instead."""
        return self.lowest

    def __call__(self, value):
        value = self.convert(value)
        if value < self.minimum or (self.strict and value == self.minimum):
            raise Invalid(f'must be {self.too_low}, got {short_repr(value)}')
        if self.maximum is not None and value > self.maximum:
            raise Invalid(f'must be <= {self.maximum}, got {short_repr(value)}')
        return value


@dataclass(frozen=True)
class Number(Bounded):
    """A finite number >= 0 (> 0 when `positive`)."""
    positive: bool = False
    kind, minimum = 'number', 0

    @property
    def strict(self):
        return self.positive

    @property
    def too_low(self):
        return 'positive' if self.positive else 'non-negative'

    @staticmethod
    def convert(value):
        return finite_float(value)


@dataclass(frozen=True)
class Integer(Bounded):
    """An integer in [minimum, maximum]."""
    minimum: int = 1
    maximum: int = MAX_INT
    kind = 'integer'

    @staticmethod
    def convert(value):
        if not is_int(value):
            raise Invalid(f'must be an integer, got {short_repr(value)}')
        return value


@dataclass(frozen=True)
class Boolean:
    describe = '`true` or `false`'

    def __call__(self, value):
        if not isinstance(value, bool):
            raise Invalid(f'must be true or false, got {short_repr(value)}')
        return value


@dataclass(frozen=True)
class OrNone:
    """`null` (None), or what `validator` accepts."""
    validator: object

    @property
    def describe(self):
        return f'`null` or {self.validator.describe}'

    def __call__(self, value):
        return None if value is None else self.validator(value)


@dataclass(frozen=True)
class Choice:
    """One string of `choices`."""
    choices: tuple

    @property
    def describe(self):
        return ' or '.join(f'`{c}`' for c in self.choices)

    def __call__(self, value):
        if not isinstance(value, str) or value not in self.choices:
            raise Invalid(f'must be one of {", ".join(self.choices)}, got {short_repr(value)}')
        return value


@dataclass(frozen=True)
class Subset:
    """A non-empty list of distinct strings drawn from `choices`."""
    choices: tuple

    @property
    def describe(self):
        return 'list of ' + ', '.join(f'`{c}`' for c in self.choices)

    def __call__(self, value):
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise Invalid(f'must be a non-empty list drawn from {", ".join(self.choices)}, got {short_repr(value)}')
        bad = [v for v in value if v not in self.choices]
        if bad:
            raise Invalid(f'{short_repr(bad[0])} is not one of {", ".join(self.choices)}')
        if len(set(value)) != len(value):
            raise Invalid('lists an output twice')
        return list(value)


def check_argument(name, value, validator):
    """validator(value) for a Python function's argument `name` (the validators above: Choice, Integer, ...);
    ValueError '<name> <what the validator says>', e.g. "space must be one of w, wplus, got 'x'"."""
    try:
        return validator(value)
    except Invalid as e:
        raise ValueError(f'{name} {e}') from None


def file_problem(path, what):
    """None when `path` is a file, else why not: '<what> not found: PATH' or 'PATH is a directory, not a <what>'."""
    if os.path.isdir(path):
        return f'{path} is a directory, not a {what}'
    if not os.path.isfile(path):
        return f'{what} not found: {path}'
    return None


def checked_value(validator, value, path, errors):
    """(True, validator(value)), or (False, value) after adding the validator's message at `path`."""
    try:
        return True, validator(value)
    except Invalid as e:
        errors.add(path, str(e))
        return False, value


def read_mask(path):
    """The values of a mask image: read-only float32 numpy array [height, width] in [0, 1] (alpha channel of RGBA
    and LA images, else luminance / 255). Cached per file version."""
    stat = os.stat(path)
    return _read_mask(path, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=64)
def _read_mask(path, mtime_ns, size):
    with Image.open(path) as img:
        channel = img.getchannel('A') if img.mode in ('RGBA', 'LA') else img.convert('L')
        values = np.asarray(channel, dtype=np.float32) / 255.0
    values.setflags(write=False)
    return values


# First bytes of files that are not JSON text, and what to call them.
FILE_MAGIC = (
    ('zip', b'PK\x03\x04', 'a zip archive (a torch checkpoint or a dataset?)'),
    ('png', b'\x89PNG', 'a PNG image'),
    ('jpeg', b'\xff\xd8\xff', 'a JPEG image'),
)


def file_kind(head):
    """(kind, description) of a file from its first bytes: kind 'zip' | 'pickle' (protocol 2+) | 'png' | 'jpeg' |
    'binary' (a NUL byte in `head`), or (None, None) for what may be text."""
    for kind, magic, description in FILE_MAGIC:
        if head.startswith(magic):
            return kind, description
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return 'pickle', 'a pickle (a network snapshot?)'
    if b'\x00' in head:
        return 'binary', 'a binary file (or text not in UTF-8)'
    return None, None


@contextmanager
def option_errors(option, errors=ValueError):
    """Re-raises an exception of `errors` (a class or a tuple of them) raised in the block as an OptionError that
    names `option` and carries the exception's message (an OptionError raised inside passes through as it is):

        with option_errors('--spec', SpecError):
            spec = load_spec(text)
    """
    try:
        yield
    except OptionError:
        raise
    except errors as e:
        raise OptionError(option, str(e)) from None
