"""Imaging with libvips."""
