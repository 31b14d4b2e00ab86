"""``cdds``: the command line of CDDS for people and scripts (docs/cli.md).

It talks only to the gateway's REST API (docs/api.md) and opens sealed files with
:mod:`cdds_cms`; it needs no server library, so it installs alone (README.md).
"""
