"""Offline model building: the only package that may import torch or sentence-transformers."""
