"""What the graph (`operators`, `models`) and the node (`app.node`) both need, and nothing else.

The product's names in its own DICOM output (`names`), writing a file so that
a crash never leaves half of it (`files`), how a run ended (`outcome`) and the
stack size Holoscan wants (`process`). This package imports nothing of
`app`, `operators` or `models` (tests/test_layering.py).
"""
