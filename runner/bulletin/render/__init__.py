"""Renderers: datasets in, report files out. Heavy libraries are imported only by their format."""
