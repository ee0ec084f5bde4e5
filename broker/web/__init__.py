"""The auditors' web page (aiohttp): see broker.web.app."""
