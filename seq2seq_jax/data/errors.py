"""The one exception the data layer raises for bad input.

A `DataError` message is written for the person running an experiment, not for a
developer reading a traceback: it names the directory, file and line at fault and says
what to do next (where to get the data, which option to pass).
"""

from __future__ import annotations


def manual_dir_hint(option: str = "manual_dir") -> str:
    """The sentence telling a user how to point the loader at their copy of the data.

    Args:
      option: the name of the option that takes the directory.

    Returns:
      A sentence naming both the Python keyword and the command-line flag.
    """
    return (
        f"Pass the directory holding the files as {option}=PATH "
        f"(on the command line: --config.data.{option}=PATH)."
    )
