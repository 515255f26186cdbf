"""Kernel side: the Session of one kernel, IPython glue, magics, background writer."""
