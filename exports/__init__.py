"""Bound volumes (案卷): compiling closed feedback into sealed workbooks with a PDF/A copy, BagIt hand-over,
fixity audits and the archivist's receipt."""
