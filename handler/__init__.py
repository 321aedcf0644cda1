"""TorchServe serving code: the face-verify / face-embed handler and its request contract.

Imports model/ only, never training code (training/, pretrain/, finetune/).
"""
