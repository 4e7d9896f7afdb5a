"""Benchmarks: a real ``canyu serve`` driven over HTTP (see ``bench/common.py``)."""
