"""The experiment configs, one file an experiment, each with ``get_config(arg=None)``.

They ship with the package and are named on the command line as ``--config NAME[:ARG]``
(``g014b2b:bahdanau``, ``g2p_luong``); a path ``--config FILE.py[:ARG]`` names any other.
"""
