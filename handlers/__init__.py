"""Message routing: a router of plain handler functions, and the feedback dialogs (windows) they keep."""
