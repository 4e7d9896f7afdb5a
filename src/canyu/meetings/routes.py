"""HTML pages of this feature."""

routes: list = []
