"""The 1 + 15 demo (`python -m demo.run`) and its many-set evaluation (`python -m demo.eval`).

Talks to the server only through the `client` package; never imports torch or `model`.
"""
