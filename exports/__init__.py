"""Bound volumes (案卷): compiling closed feedback into sealed Excel workbooks, BagIt hand-over, fixity."""
