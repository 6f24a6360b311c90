"""The promptlsp language server: a thin pygls 2 adapter over :mod:`promptlsp.document`.

Nothing here imports litellm; the document layer knows nothing of LSP.
"""
