"""Power-cut proof: a FUSE filesystem that forgets unsynced writes, and the campaign that uses it.

`fusefs` is the filesystem, `mount` starts and cuts it, `campaign` runs the real daemon on it.
"""
