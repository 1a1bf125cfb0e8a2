"""Every `kbapp bench ...`: the one layer that may import any other (docs/architecture.md).

Nothing in kbapp imports it except the CLI's dispatch table, by module name, when a bench runs.
"""
