"""What the console's pages and its JSON API share, taking typed values: feedback and the inbox, meetings,
volumes and lookups. Neither edge imports the other; both call these and the domain services."""
