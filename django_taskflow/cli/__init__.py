"""Helpers of the ``taskflow`` management command: argument types and output."""
