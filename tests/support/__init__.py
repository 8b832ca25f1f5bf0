"""Shared test doubles: the fake WeChat API, WeChat as a peer, servers, console and volume helpers."""
