"""Feedback domain: sites, meetings, people, feedback with its media and history, the message grammar."""
